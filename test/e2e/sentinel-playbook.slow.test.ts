import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { sleep } from "../../src/core/index.ts";
import { freePortRange } from "../helpers/ports.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startSentinelGroup, type SentinelGroup } from "../helpers/sentinel.ts";
import { startService, type Service } from "../helpers/service.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The issue's failover mid-incident, on `pulseboard start` against a
 * Sentinel group: a gateway node is frozen (SIGSTOP, so its own port's
 * connect probe fails), the playbook that restarts it is running (its first
 * step waits long enough for the kill to land inside it), and the
 * control-plane primary is SIGKILLed while admin API writes keep coming.
 * Within 15 s the replica is primary and every role is connected to it; the
 * run ends once, the node is restarted once, the incident resolves with
 * every timeline entry once, every acknowledged write is there, on-call got
 * every post once and in order, and the page answered 200 throughout.
 */

const ADMIN_TOKEN = "e2e-sentinel-playbook-admin-token-0123";
/** The issue's bound: within it the replica is primary and every role uses it. */
const FAILOVER_BOUND_MS = 15_000;
/** The playbook's first step: long enough that the kill lands while it runs. */
const SLOW_STEP_S = 8;
/** Connection names (CLIENT LIST) of each role's connections, as src/roles names them. */
const ROLE_CONNECTIONS: Record<string, RegExp> = {
  web: /^pulseboard:web$/,
  worker: /^pulseboard:worker-/,
  agent: /^pulseboard:agent-local$/,
  scheduler: /^pulseboard:scheduler$/,
};

interface Post {
  type: string;
  id: string;
  data: { incident?: { id: string }; update?: { id: string; status: string } };
}
interface Update {
  id: string;
  status: string;
  body: string;
  detail?: string;
  internal?: boolean;
}
interface Run {
  id: string;
  kind: string;
  state: string;
  outcome?: string;
  incident?: string;
  steps: { action: string; state: string; attempts: number }[];
  executions: { worker: string; from: string }[];
}
interface FleetNode {
  id: string;
  pid: number | null;
  port: number;
  state: string;
  restarts: number;
}

describe("a Sentinel failover while a playbook repairs a frozen gateway node (slow)", { timeout: 300_000 }, () => {
  let group: SentinelGroup;
  let oncall: HttpReceiver;
  let service: Service;
  let gatewayPort: number;

  before(async () => {
    group = await startSentinelGroup();
    oncall = await HttpReceiver.start({ status: 204, body: "" });
    gatewayPort = await freePortRange(4);
    service = await startService({
      adminToken: ADMIN_TOKEN,
      env: { ...group.env, GATEWAY_PORT: String(gatewayPort) },
      config: (port) => `
page: { name: Sentinel playbook e2e, url: "http://127.0.0.1:${port}" }
evaluation: { quiet_period: 1s, flap_changes: 20 }
locations: [{ id: local }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
gateway: { nodes: 2 }
probes:
  - { id: node-1-connect, kind: websocket, interval: 1s, timeout: 800ms, fail_after: 1, recover_after: 1, components: [realtime-gateway], with: { url: "ws://127.0.0.1:${gatewayPort + 2}/ws", channel: null } }
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
      - { action: wait, for: ${SLOW_STEP_S}s }
      - { action: restart-gateway, target: failing }
      - { action: verify, probes: [node-1-connect], within: 30s }
    guards: { cooldown: 1s, max_runs: 5, per: 1h }
`,
      ready: async (s) => {
        const res = await fetch(`http://127.0.0.1:${s.port}/admin/api/components`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } }).catch(() => undefined);
        if (!res?.ok) return false;
        const { components } = (await res.json()) as { components: { state?: { status: string } }[] };
        return components.length === 1 && components[0]!.state?.status === "operational";
      },
    });
  });
  after(async () => {
    await service?.stop();
    await oncall?.stop();
    await group?.stop();
  });

  const admin = async (method: string, pathname: string, body?: unknown): Promise<{ status: number; json: any }> => {
    const res = await fetch(`http://127.0.0.1:${service.port}/admin/api${pathname}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  const get = async (pathname: string): Promise<any> => {
    const { status, json } = await admin("GET", pathname);
    if (status !== 200) throw new Error(`GET ${pathname}: ${status} ${JSON.stringify(json)}`);
    return json;
  };
  const fleetNodes = async (): Promise<FleetNode[]> => {
    const token = readFileSync(path.join(service.home, "gateway-admin-token"), "utf8").trim();
    const res = await fetch(`http://127.0.0.1:${service.adminPort}/nodes`, { headers: { authorization: `Bearer ${token}` } });
    return ((await res.json()) as { nodes: FleetNode[] }).nodes;
  };
  const runs = async (): Promise<Run[]> => (await get("/playbooks/runs?playbook=restart-frozen-node")).runs as Run[];

  it("the run, the incident, acknowledged writes, on-call posts and the page all come through a SIGKILLed primary", async (t) => {
    const page = `http://127.0.0.1:${service.port}/`;
    const answers: { at: number; status: number | string }[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const at = Date.now();
        answers.push({ at, status: await fetch(page, { signal: AbortSignal.timeout(3_000) }).then(async (res) => (await res.arrayBuffer(), res.status), (err: Error) => err.message) });
        await sleep(100);
      }
    })();

    // Admin writes, one after the other, for as long as the scenario lasts: what got its 201 (or 200 for an update) must survive.
    const acked = { incidents: [] as string[], updates: [] as { incident: string; body: string }[], maintenances: [] as string[] };
    const refused: string[] = [];
    let writing = true;
    const tomorrow = Date.now() + 86_400_000;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const what = i % 3;
        try {
          if (what === 0) {
            const res = await admin("POST", "/incidents", { name: `Admin write ${i}`, body: `Opened by the test (write ${i}).` });
            if (res.status === 201) acked.incidents.push(res.json.incident.id);
            else refused.push(`incident ${i}: ${res.status}`);
          } else if (what === 1 && acked.incidents.length > 0) {
            const incident = acked.incidents.at(-1)!;
            const body = `Update from the test (write ${i}).`;
            const res = await admin("POST", `/incidents/${incident}/updates`, { body, status: "identified" });
            if (res.status === 200) acked.updates.push({ incident, body });
            else refused.push(`update ${i}: ${res.status}`);
          } else {
            const from = new Date(tomorrow + i * 3_600_000).toISOString();
            const until = new Date(tomorrow + i * 3_600_000 + 1_800_000).toISOString();
            const res = await admin("POST", "/maintenances", { name: `Window ${i}`, components: ["realtime-gateway"], scheduled_for: from, scheduled_until: until, body: `Scheduled by the test (write ${i}).` });
            if (res.status === 201) acked.maintenances.push(res.json.maintenance.id);
            else refused.push(`maintenance ${i}: ${res.status}`);
          }
        } catch (err) {
          refused.push(`write ${i}: ${(err as Error).message}`);
        }
        await sleep(150);
      }
    })();

    try {
      // The fault: node-1 stops dead; its own port's connect probe fails and the playbook claims a run.
      const before = await fleetNodes();
      const frozen = before.find((n) => n.id === "node-1");
      assert.ok(frozen?.pid, `node-1 runs: ${JSON.stringify(before)}`);
      const seen = new Set((await runs()).map((r) => r.id));
      process.kill(frozen.pid, "SIGSTOP");
      const frozenAt = Date.now();
      const running = await waitFor("the playbook's run to be in its slow first step", async () => {
        const run = (await runs()).find((r) => !seen.has(r.id) && r.kind === "recovery");
        return run?.state === "running" && run.steps[0]?.state === "started" ? run : undefined;
      }, 30_000, 100);
      t.diagnostic(`run ${running.id} in its first step ${Date.now() - frozenAt} ms after the freeze`);

      // The kill, with the step still running (it waits SLOW_STEP_S from its start).
      const killed = await group.killMaster();
      const killedAt = Date.now();
      const since = () => Date.now() - killedAt;
      const promoted = await group.waitForNewMaster(killed, FAILOVER_BOUND_MS);
      const promotedAfter = since();
      const connected = await waitFor("a connection of every role to the promoted primary", async () => {
        const names = ((await group.client(promoted).call("CLIENT", "LIST")) as string).split("\n").map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? "");
        return Object.values(ROLE_CONNECTIONS).every((pattern) => names.some((n) => pattern.test(n))) && since();
      }, Math.max(1, FAILOVER_BOUND_MS - since()), 100).catch(async (err: Error) => {
        const names = ((await group.client(promoted).call("CLIENT", "LIST")) as string).split("\n").map((line) => /\bname=(\S*)/.exec(line)?.[1] ?? "");
        throw new Error(`${err.message}; connected to 127.0.0.1:${promoted}: ${[...new Set(names)].join(", ")}`);
      });
      t.diagnostic(`SIGKILL of 127.0.0.1:${killed}: the Sentinels named 127.0.0.1:${promoted} in ${promotedAfter} ms; every role was connected to it in ${connected} ms`);
      assert.ok(connected <= FAILOVER_BOUND_MS, `every role on the new primary within ${FAILOVER_BOUND_MS} ms (took ${connected} ms)`);

      // The run goes on on the new primary: the node is restarted once, verified, and the incident resolves.
      const ended = await waitFor("the run to end", async () => {
        const run = (await runs()).find((r) => r.id === running.id);
        return run && ["succeeded", "failed", "abandoned", "expired", "rejected"].includes(run.state) ? run : undefined;
      }, 90_000, 250);
      t.diagnostic(`run ${ended.id} ended ${ended.state} ${since()} ms after the kill: ${ended.outcome}; executions: ${ended.executions.map((e) => `${e.worker} from ${e.from}`).join(", ")}`);
      assert.equal(ended.state, "succeeded", `the run succeeded: ${ended.outcome}`);
      assert.deepEqual(ended.steps.map((s) => `${s.action}:${s.state}`), ["wait:succeeded", "restart-gateway:succeeded", "verify:succeeded"]);
      const incidentId = ended.incident;
      assert.ok(incidentId, "the run reported to an incident");
      await waitFor("the incident to resolve", async () => (await get(`/incidents/${incidentId}`)).incident.status === "resolved", 60_000, 250);
      const afterNodes = await fleetNodes();
      const node1 = afterNodes.find((n) => n.id === "node-1")!;
      assert.equal(node1.restarts - frozen.restarts, 1, `node-1 restarted once: ${JSON.stringify(afterNodes)}`);
      assert.equal(node1.state, "ready");
      // Every other run of the playbook since the freeze: none (a run lost and claimed again, or doubled, would show here).
      const others = (await runs()).filter((r) => !seen.has(r.id) && r.id !== ended.id && r.kind === "recovery");
      assert.deepEqual(others.map((r) => `${r.id} ${r.state}: ${r.outcome}`), [], "one recovery run for the one freeze");

      // Let the writes run on a little on the new primary, then stop them and let the outbox deliver.
      await sleep(3_000);
      writing = false;
      await writer;
      await sleep(1_000);
      polling = false;
      await poller;

      // The incident's timeline: every entry once (by id and by what it says), each step's entry there.
      const incident = (await get(`/incidents/${incidentId}`)).incident as { updates: Update[] };
      const texts = incident.updates.map((u) => `${u.status} | ${u.body} | ${u.detail ?? ""}`);
      t.diagnostic(`the incident's timeline:\n${texts.join("\n")}`);
      assert.equal(new Set(incident.updates.map((u) => u.id)).size, incident.updates.length, "no entry id twice");
      assert.deepEqual(texts.filter((x, i) => texts.indexOf(x) !== i), [], "no entry twice");
      for (const step of [1, 2, 3]) {
        const entries = incident.updates.filter((u) => `${u.body} ${u.detail ?? ""}`.includes(`step ${step} of 3`));
        assert.equal(entries.length, 1, `step ${step}'s entry once on the timeline:\n${texts.join("\n")}`);
      }
      assert.equal(incident.updates.filter((u) => u.status === "resolved").length, 1, "resolved once");

      // Every acknowledged write is there.
      t.diagnostic(`acknowledged: ${acked.incidents.length} incidents, ${acked.updates.length} updates, ${acked.maintenances.length} maintenance windows; not acknowledged: ${refused.length} (${refused.slice(0, 5).join("; ")})`);
      assert.ok(acked.incidents.length + acked.updates.length + acked.maintenances.length >= 20, "writes were acknowledged through the scenario");
      const written = new Map<string, Update[]>();
      for (const id of acked.incidents) {
        const { status, json } = await admin("GET", `/incidents/${id}`);
        assert.equal(status, 200, `the acknowledged incident ${id} is there`);
        written.set(id, json.incident.updates as Update[]);
      }
      for (const { incident: id, body } of acked.updates) {
        assert.equal(written.get(id)!.filter((u) => u.body === body).length, 1, `the acknowledged update "${body}" is on ${id} once`);
      }
      const windows = new Set(((await get("/maintenances?limit=500")).maintenances as { id: string }[]).map((m) => m.id));
      assert.deepEqual(acked.maintenances.filter((id) => !windows.has(id)), [], "every acknowledged maintenance window is there");

      // On-call: every post once (by its event id), and each incident's posts in its timeline's order.
      const timelines = new Map<string, Update[]>([[incidentId, incident.updates], ...written]);
      const posted = () => oncall.requests.map((r) => r.json as Post);
      const expected = [...timelines.values()].reduce((sum, updates) => sum + updates.length, 0);
      await waitFor(`on-call to have every post (${expected} entries)`, () => new Set(posted().filter((p) => p.data.update).map((p) => p.data.update!.id)).size >= expected, 30_000, 250).catch(() => {});
      await sleep(1_000);
      const posts = posted();
      const ids = posts.map((p) => p.id);
      assert.deepEqual(ids.filter((id, i) => ids.indexOf(id) !== i), [], "no post delivered twice");
      for (const [id, updates] of timelines) {
        const posted = posts.filter((p) => p.data.incident?.id === id).map((p) => p.data.update!.id);
        assert.deepEqual(posted, updates.map((u) => u.id), `incident ${id}: every timeline entry posted once, in order`);
      }

      // The page answered 200 throughout.
      const during = answers.filter((a) => a.at >= killedAt);
      t.diagnostic(`the page answered ${answers.length} requests, ${during.length} after the kill; on-call got ${posts.length} posts`);
      assert.ok(during.length >= 20, `the page was asked through the failover (${during.length} times)`);
      assert.deepEqual(answers.filter((a) => a.status !== 200), [], "every answer of / was a 200");
      const output = service.output.join("\n");
      for (const secret of [group.password, group.sentinelPassword]) assert.ok(!output.includes(secret), "no password in the service's output");
    } finally {
      writing = false;
      polling = false;
      await Promise.all([writer, poller]);
    }
  });
});
