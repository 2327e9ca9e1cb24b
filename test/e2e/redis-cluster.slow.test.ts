import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { closeRedis, connectRedis, sleep } from "../../src/core/index.ts";
import { bullPrefix, probeQueue } from "../../src/pipeline/index.ts";
import { commandLine, descendants } from "../helpers/processes.ts";
import { freePortRange } from "../helpers/ports.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedisCluster, type RedisClusterGroup } from "../helpers/redis-cluster.ts";
import { startService, type Service } from "../helpers/service.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The whole pipeline on a Redis Cluster: `pulseboard start` with
 * REDIS_CLUSTER_NODES and CACHE_REDIS_CLUSTER_NODES naming the same six-node
 * cluster (no embedded Redis). A frozen gateway node (SIGSTOP) makes its
 * connect probe fail: the result is evaluated, an incident opens, on-call
 * is posted to, the playbook restarts the node and verifies it, and the
 * incident resolves. Then the primary of the control plane's slot is
 * SIGKILLed; once the cluster has promoted its replica, the same happens
 * again, and the cross-node pub/sub probe (fan-out through the cache on
 * the cluster) is ok again.
 */

const ADMIN_TOKEN = "e2e-cluster-admin-token-0123456789ab";
/** Generous: the cluster fails over in a few seconds (cluster-node-timeout 1000 ms). */
const FAILOVER_BOUND_MS = 20_000;
/** One cycle of freeze → incident → playbook → resolution: about 10 s expected. */
const CYCLE_BOUND_MS = 60_000;

interface Post {
  type: string;
  id: string;
  data: { incident?: { id: string }; update?: { id: string; status: string } };
}
interface Run {
  id: string;
  kind: string;
  state: string;
  outcome?: string;
  incident?: string;
  steps: { action: string; state: string }[];
}
interface FleetNode {
  id: string;
  pid: number | null;
  state: string;
  restarts: number;
}

describe("pulseboard start on a Redis Cluster, control plane and gateway cache (slow)", { timeout: 360_000 }, () => {
  let cluster: RedisClusterGroup;
  let oncall: HttpReceiver;
  let service: Service;
  let gatewayPort: number;

  before(async () => {
    cluster = await startRedisCluster();
    oncall = await HttpReceiver.start({ status: 204, body: "" });
    gatewayPort = await freePortRange(4);
    service = await startService({
      adminToken: ADMIN_TOKEN,
      env: { ...cluster.env(), ...cluster.env("CACHE_"), GATEWAY_PORT: String(gatewayPort) },
      config: (port) => `
page: { name: Cluster e2e, url: "http://127.0.0.1:${port}" }
evaluation: { quiet_period: 1s, flap_changes: 20 }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway }
  - { id: fan-out, name: Cross-node delivery }
gateway: { nodes: 2 }
probes:
  - { id: node-1-connect, kind: websocket, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [realtime-gateway], with: { url: "ws://127.0.0.1:${gatewayPort + 2}/ws", channel: null } }
  - { id: cross-node, kind: pubsub, interval: 2s, timeout: 1500ms, fail_after: 2, recover_after: 1, components: [fan-out] }
notifications:
  retry_base: 100ms
  retry_max: 500ms
  attempts: 20
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/oncall")}" }
playbooks:
  - id: restart-frozen-node
    trigger: { probe: node-1-connect, status: down }
    steps:
      - { action: restart-gateway, target: failing }
      - { action: verify, probes: [node-1-connect], within: 30s }
    guards: { cooldown: 1s, max_runs: 10, per: 1h }
`,
      ready: async (s) => {
        const res = await fetch(`http://127.0.0.1:${s.port}/admin/api/components`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).catch(() => undefined);
        if (!res?.ok) return false;
        const { components } = (await res.json()) as { components: { state?: { status: string } }[] };
        return components.length === 2 && components.every((c) => c.state?.status === "operational");
      },
    });
  });
  after(async () => {
    await service?.stop();
    await oncall?.stop();
    await cluster?.stop();
  });

  const get = async (pathname: string): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${service.port}/admin/api${pathname}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(10_000) });
    if (res.status !== 200) throw new Error(`GET ${pathname}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const fleetNodes = async (): Promise<FleetNode[]> => {
    const token = readFileSync(path.join(service.home, "gateway-admin-token"), "utf8").trim();
    const res = await fetch(`http://127.0.0.1:${service.adminPort}/nodes`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.json()) as { nodes: FleetNode[] }).nodes;
  };
  const runs = async (): Promise<Run[]> => (await get("/playbooks/runs?playbook=restart-frozen-node")).runs as Run[];
  const posts = () => oncall.requests.map((r) => r.json as Post);
  const componentStatus = async (id: string): Promise<string | undefined> =>
    ((await get("/components")).components as { id: string; state?: { status: string } }[]).find((c) => c.id === id)?.state?.status;

  /** The agent's probe queue as BullMQ sees it: job counts and the job schedulers' next runs, for a failure message. */
  const probeQueueState = async (): Promise<string> => {
    const connection = connectRedis(cluster.target, { profile: "command", name: "test-diagnosis" });
    const queue = new Queue(probeQueue("local"), { connection, prefix: bullPrefix("{pulseboard}") });
    try {
      const counts = await queue.getJobCounts("wait", "active", "delayed", "prioritized", "completed", "failed");
      const schedulers = (await queue.getJobSchedulers()).map((s) => `${s.key} next ${s.next ? new Date(s.next).toISOString() : "none"}`);
      return `${JSON.stringify(counts)}; schedulers: ${schedulers.join(", ")}; now ${new Date().toISOString()}`;
    } finally {
      await queue.close();
      await closeRedis(connection);
    }
  };

  /**
   * Freezes node-1 and follows the pipeline to the end: an incident and its
   * first on-call post, the playbook's run restarting the node, the
   * resolution posted. Resolves with how long each took from the freeze.
   */
  const cycle = async (label: string): Promise<{ incident: string; posted: number; runEnded: number; resolved: number }> => {
    const before = await waitFor("node-1 to be ready", async () => (await fleetNodes()).find((n) => n.id === "node-1" && n.state === "ready" && n.pid), 30_000, 200);
    const seenRuns = new Set((await runs()).map((r) => r.id));
    const seenIncidents = new Set(posts().map((p) => p.data.incident?.id));
    process.kill(before.pid!, "SIGSTOP");
    const frozenAt = Date.now();
    const since = () => Date.now() - frozenAt;
    const opened = await waitFor(`${label}: a new incident's first on-call post`, () => posts().find((p) => p.data.update?.status === "investigating" && !seenIncidents.has(p.data.incident?.id)), CYCLE_BOUND_MS, 100);
    const posted = since();
    const incident = opened.data.incident!.id;
    const ended = await waitFor(`${label}: the playbook's run to end`, async () => {
      const run = (await runs()).find((r) => !seenRuns.has(r.id) && r.kind === "recovery");
      return run && ["succeeded", "failed", "abandoned", "expired", "rejected"].includes(run.state) ? run : undefined;
    }, CYCLE_BOUND_MS, 250);
    const runEnded = since();
    assert.equal(ended.state, "succeeded", `${label}: the run succeeded: ${ended.outcome}`);
    assert.deepEqual(ended.steps.map((s) => `${s.action}:${s.state}`), ["restart-gateway:succeeded", "verify:succeeded"]);
    await waitFor(`${label}: the resolution's on-call post`, () => posts().some((p) => p.data.incident?.id === incident && p.data.update?.status === "resolved"), CYCLE_BOUND_MS, 100);
    const resolved = since();
    const node1 = (await fleetNodes()).find((n) => n.id === "node-1")!;
    assert.equal(node1.restarts - before.restarts, 1, `${label}: node-1 restarted once`);
    return { incident, posted, runEnded, resolved };
  };

  it("embeds no Redis: the cluster is both the control plane and the gateway's cache", async () => {
    const commands = descendants(service.pid).map(commandLine);
    assert.deepEqual(commands.filter((c) => /redis-server/.test(c)), [], "no redis-server under pulseboard start");
    // Queues and store under {pulseboard} on one primary; the gateway's channels under pbgw:{channel}.
    const primary = await cluster.primaryOf("{pulseboard}");
    assert.ok((await cluster.client(primary).keys("{pulseboard}:bull:*")).length > 0, "BullMQ's keys are hash-tagged");
    assert.ok((await cluster.client(primary).keys("{pulseboard}:component*")).length > 0, "the store's keys are hash-tagged");
    assert.equal(await componentStatus("fan-out"), "operational", "cross-node delivery through the cache on the cluster works");
  });

  it("probes → evaluate → incident → post → playbook, before and after a primary of the cluster is SIGKILLed", async (t) => {
    const page = `http://127.0.0.1:${service.port}/`;
    const answers: { at: number; status: number | string }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const at = Date.now();
        answers.push({ at, status: await fetch(page, { signal: AbortSignal.timeout(3_000) }).then(async (res) => (await res.arrayBuffer(), res.status), (err: Error) => err.message) });
        await sleep(200);
      }
    })();
    try {
      const first = await cycle("before the kill");
      t.diagnostic(`before the kill, from the freeze: first post ${first.posted} ms, run ended ${first.runEnded} ms, resolution posted ${first.resolved} ms`);

      // The primary of the control plane's slot: queues, store, outboxes, locks all on it.
      const killed = await cluster.primaryOf("{pulseboard}");
      await cluster.kill(killed);
      const killedAt = Date.now();
      const since = () => Date.now() - killedAt;
      const promoted = await cluster.waitForFailover(killed, "{pulseboard}", FAILOVER_BOUND_MS);
      const promotedAfter = since();
      const roles = await waitFor("every role's connections on the promoted primary", async () => {
        const names = ((await cluster.client(promoted).call("CLIENT", "LIST")) as string).split("\n").map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? "");
        return [/^pulseboard:web$/, /^pulseboard:worker-/, /^pulseboard:agent-local$/, /^pulseboard:scheduler$/].every((p) => names.some((n) => p.test(n))) && since();
      }, FAILOVER_BOUND_MS, 200);
      t.diagnostic(`SIGKILL of primary 127.0.0.1:${killed}: the cluster promoted 127.0.0.1:${promoted} in ${promotedAfter} ms; every role connected to it in ${roles} ms`);

      const second = await cycle("after the kill");
      t.diagnostic(`after the kill, from the freeze: first post ${second.posted} ms, run ended ${second.runEnded} ms, resolution posted ${second.resolved} ms`);
      const fanOut = await waitFor("cross-node delivery to be operational", async () => (await componentStatus("fan-out")) === "operational" && since(), CYCLE_BOUND_MS, 500);
      t.diagnostic(`cross-node delivery operational ${fanOut} ms after the kill`);

      // On-call: every post once, each incident's in its timeline's order.
      await sleep(1_000);
      const all = posts();
      const ids = all.map((p) => p.id);
      assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], "no post delivered twice");
      for (const incident of [first.incident, second.incident]) {
        const timeline = ((await get(`/incidents/${incident}`)).incident.updates as { id: string }[]).map((u) => u.id);
        assert.deepEqual(all.filter((p) => p.data.incident?.id === incident).map((p) => p.data.update!.id), timeline, `incident ${incident}: every entry posted once, in order`);
      }
      polling = false;
      await poller;
      const during = answers.filter((a) => a.at >= killedAt);
      t.diagnostic(`the page answered ${answers.length} requests, ${during.length} after the kill; non-200: ${answers.filter((a) => a.status !== 200).length}`);
      assert.deepEqual(answers.filter((a) => a.status !== 200), [], "every answer of / was a 200");
      assert.ok(!service.output.join("\n").includes(cluster.password), "no password in the service's output");
    } catch (err) {
      // What the roles said of it: their warnings and errors, last first.
      const said = service.output.filter((line) => /"level":"(warn|error|fatal)"/.test(line)).slice(-40).join("\n");
      const state = await get("/components").then((body) => JSON.stringify(body.components), (e: Error) => e.message);
      const last = service.output.slice(-30).join("\n");
      const queues = await probeQueueState().catch((e: Error) => e.message);
      throw new Error(`${(err as Error).message}\nprobe queue: ${queues}\ncomponents: ${state}\nthe service's last warnings:\n${said}\nits last lines:\n${last}`, { cause: err });
    } finally {
      polling = false;
      await poller;
    }
  });
});
