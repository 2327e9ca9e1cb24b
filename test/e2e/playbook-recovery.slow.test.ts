import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { metricValue } from "../helpers/prometheus.ts";
import { recoveryConfig, startService, type Service } from "../helpers/service.ts";
import { waitFor } from "../helpers/wait.ts";
import { TestClient } from "../helpers/ws-client.ts";

const ADMIN_TOKEN = "playbook-recovery-admin-token-0123";
/** Connections one gateway node accepts: small, so the test can fill most of the fleet. */
const NODE_LIMIT = 40;

/**
 * The embedded stack repairs itself: a fault is injected (through the fleet
 * admin API with GATEWAY_FAULTS=1, by stopping the embedded cache
 * redis-server, or by opening connections), probes at 1 s see it, a shipped
 * kind of playbook repairs it and verifies, and nothing of the test touches
 * the fleet afterwards: recovery is the playbook's. Each scenario reports its
 * fault → recovered time.
 */
describe("playbooks repair the embedded stack (slow: whole service from the CLI, 1 s probes)", { timeout: 240_000 }, () => {
  let service: Service;
  let home: string;
  let port: number;
  let adminPort: number;

  before(async () => {
    service = await startService({ config: (p) => recoveryConfig({ port: p, nodeLimit: NODE_LIMIT }), adminToken: ADMIN_TOKEN });
    ({ home, port, adminPort } = service);
  });

  after(async () => {
    await service?.stop();
  });

  const api = async (pathname: string): Promise<any> => {
    const res = await fetch(`http://127.0.0.1:${port}/admin/api${pathname}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    if (!res.ok) throw new Error(`GET ${pathname}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  type Run = { id: string; kind: string; state: string; outcome: string; incident?: string; steps: { action: string; state: string }[] };
  const components = async (): Promise<Record<string, string>> => {
    const answer = await api("/components").catch(() => undefined);
    return Object.fromEntries((answer?.components ?? []).map((c: { id: string; state?: { status: string } }) => [c.id, c.state?.status ?? "unknown"]));
  };
  /** Whether all three components are known and operational. */
  const allOperational = async (): Promise<boolean> => {
    const now = Object.values(await components());
    return now.length === 3 && now.every((s) => s === "operational");
  };
  const status = async (id = "realtime-gateway"): Promise<string | undefined> => (await components())[id];
  const fleet = async (method: string, pathname: string, body?: unknown): Promise<any> => {
    const token = readFileSync(path.join(home, "gateway-admin-token"), "utf8").trim();
    const res = await fetch(`http://127.0.0.1:${adminPort}${pathname}`, {
      method,
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`${method} ${pathname} on the fleet admin API: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const fault = (node: string, kind: string, duration: string) => fleet("POST", `/nodes/${node}/faults`, { fault: kind, duration });
  const runIds = async (playbook: string): Promise<Set<string>> => new Set((await api(`/playbooks/runs?playbook=${playbook}`)).runs.map((r: Run) => r.id));
  /** The first run of `playbook` of `kind` not in `seen` to succeed (a deferred restore does not count); throws when it fails. */
  const newRun = (playbook: string, kind: string, seen: Set<string>, timeoutMs = 60_000): Promise<Run> =>
    waitFor(`a ${kind} run of ${playbook} to succeed`, async () => {
      const { runs } = (await api(`/playbooks/runs?playbook=${playbook}`)) as { runs: Run[] };
      const run = runs.find((r) => !seen.has(r.id) && r.kind === kind && !r.outcome?.startsWith("Deferred"));
      if (run?.state === "failed") throw new Error(`the ${kind} run ${run.id} of ${playbook} failed: ${run.outcome}`);
      return run?.state === "succeeded" ? run : undefined;
    }, timeoutMs, 250);
  const steps = (run: Run): string[] => run.steps.map((s) => `${s.action}:${s.state}`);
  const timeline = async (incident: string | undefined): Promise<string> => {
    assert.ok(incident, "the run wrote to an incident");
    // The on-call timeline: each entry's technical detail, where it has one.
    return (await api(`/incidents/${incident}`)).incident.updates.map((u: { body: string; detail?: string }) => u.detail ?? u.body).join("\n");
  };
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  /** The embedded cache redis-server, from the pid file `start` keeps. */
  const cacheRedis = (): { pid: number; port: number } => JSON.parse(readFileSync(path.join(home, "redis", "cache", "redis-server.pid"), "utf8"));

  /** Injects the fault, then waits for a run of the playbook to succeed and the gateway to be operational again. */
  async function restartScenario(t: { diagnostic(message: string): void }, name: string, node: string, kind: string) {
    const seen = await runIds("restart-stuck-gateway-node");
    const faultAt = Date.now();
    // Longer than the test waits: only the playbook's restart can end it.
    await fault(node, kind, "10m");
    const detected = await waitFor(`${name} to be seen`, async () => ((await status()) !== "operational" ? Date.now() : undefined), 30_000, 100);
    const run = await newRun("restart-stuck-gateway-node", "recovery", seen);
    const recovered = await waitFor("the gateway operational again", async () => ((await status()) === "operational" ? Date.now() : undefined), 30_000, 100);
    const ttr = (recovered - faultAt) / 1000;
    t.diagnostic(`${name}: detected ${seconds(detected - faultAt)}, recovered ${seconds(recovered - faultAt)} after the fault (run ${run.id}: ${run.outcome})`);
    assert.ok(ttr < 30, `recovered within 30 s of the fault (took ${ttr} s)`);
    assert.deepEqual(steps(run), ["restart-gateway:succeeded", "verify:succeeded"]);
    const bodies = await timeline(run.incident);
    assert.match(bodies, /restart/i, "the restart step is on the incident's timeline");
    assert.match(bodies, /verif/i, "the verify step is on the incident's timeline");
  }

  it("a frozen gateway node is restarted by the playbook and verified healthy", async (t) => {
    await restartScenario(t, "a frozen node", "node-1", "freeze");
  });

  it("a node whose connection safeguard locked up is restarted by the playbook and verified", async (t) => {
    await restartScenario(t, "a locked safeguard", "node-0", "lock-safeguard");
  });

  it("a paused cache is bypassed (realtime back, degraded), and restored once it has been healthy for the clear duration", async (t) => {
    await waitFor("every component operational", allOperational, 30_000, 250);
    const seen = await runIds("bypass-clogged-cache");
    const cache = cacheRedis();
    const pausedAt = Date.now();
    process.kill(cache.pid, "SIGSTOP");
    let resumedAt = 0;
    try {
      const detected = await waitFor("the cache outage to be seen", async () => ((await status("cache")) === "major_outage" ? Date.now() : undefined), 30_000, 100);
      const recovery = await newRun("bypass-clogged-cache", "recovery", seen);
      assert.deepEqual(steps(recovery), ["bypass-cache:succeeded", "verify:succeeded"]);
      assert.equal((await fleet("GET", "/nodes")).mode, "bypass");
      // Realtime is back without the cache: chat echoes, the gateway serves, degraded because nothing crosses nodes.
      const back = await waitFor("realtime back, degraded", async () => {
        const now = await components();
        return now.chat === "operational" && now["realtime-gateway"] === "degraded_performance" ? Date.now() : undefined;
      }, 30_000, 100);
      t.diagnostic(`a paused cache: detected ${seconds(detected - pausedAt)}, realtime back (degraded) ${seconds(back - pausedAt)} after the pause (run ${recovery.id}: ${recovery.outcome})`);
      assert.ok(back - pausedAt < 30_000, `realtime back within 30 s of the pause (took ${seconds(back - pausedAt)})`);
      assert.equal((await status("cache")), "major_outage", "the cache itself is still down");
      await new Promise((resolve) => setTimeout(resolve, 4_000));
      assert.equal((await fleet("GET", "/nodes")).mode, "bypass", "no restore while the cache is still down");

      process.kill(cache.pid, "SIGCONT");
      resumedAt = Date.now();
      const restore = await newRun("bypass-clogged-cache", "restore", seen);
      assert.deepEqual(steps(restore), ["restore-cache:succeeded", "verify:succeeded"]);
      assert.equal(restore.incident, recovery.incident, "the restore reports to the recovery's incident");
      assert.equal((await fleet("GET", "/nodes")).mode, "normal");
      const restored = await waitFor("every component operational", async () => ((await allOperational()) ? Date.now() : undefined), 30_000, 100);
      t.diagnostic(`the cache back: normal mode and every component operational ${seconds(restored - resumedAt)} after the cache resumed (3 s clear duration included; run ${restore.id}: ${restore.outcome})`);
      assert.ok(restored - resumedAt < 30_000);
      const bodies = await timeline(recovery.incident);
      assert.match(bodies, /step 1 of 2: switch the gateway to bypass mode/);
      assert.match(bodies, /step 1 of 2: switch the gateway back to its cache/);
      assert.match(bodies, /verif/i);
    } finally {
      if (!resumedAt) process.kill(cache.pid, "SIGCONT");
    }
  });

  it("connections above the bound scale the fleet out, the new node serves, and it scales back in once they leave", async (t) => {
    const seen = await runIds("scale-out-on-surge");
    const before = (await fleet("GET", "/nodes")).nodes as { id: string; port: number; state: string }[];
    assert.deepEqual(before.map((n) => n.id), ["node-0", "node-1"]);
    const clients: TestClient[] = [];
    const surgeAt = Date.now();
    try {
      // 75 % of what two nodes take (the trigger is 70 %), spread over both.
      const perNode = Math.ceil(NODE_LIMIT * 0.75);
      await Promise.all(
        before.map(async (node) => {
          for (let i = 0; i < perNode; i++) {
            const client = await TestClient.connect(`ws://127.0.0.1:${node.port}/ws`);
            clients.push(client);
            await client.next((f) => f.type === "welcome");
          }
        }),
      );
      const recovery = await newRun("scale-out-on-surge", "recovery", seen);
      const scaled = Date.now();
      assert.deepEqual(steps(recovery), ["scale-out:succeeded", "verify:succeeded"]);
      const after = (await fleet("GET", "/nodes")).nodes as { id: string; port: number; state: string }[];
      const added = after.find((n) => n.id === "node-2");
      assert.ok(added, `a third node: ${JSON.stringify(after)}`);
      assert.equal(added.state, "ready");
      const newcomer = await TestClient.connect(`ws://127.0.0.1:${added.port}/ws`);
      clients.push(newcomer);
      assert.equal((await newcomer.next((f) => f.type === "welcome")).node, "node-2", "the new node welcomes clients");
      newcomer.send({ type: "subscribe", channel: "surge.check", id: "s" });
      await newcomer.next((f) => f.type === "subscribed");
      clients[0]!.send({ type: "publish", channel: "surge.check", data: { hello: "node-2" }, id: "p" });
      assert.deepEqual((await newcomer.next((f) => f.type === "message")).data, { hello: "node-2" }, "and gets what is published on the others");
      t.diagnostic(`a connection surge: scaled out to 3 nodes and verified ${seconds(scaled - surgeAt)} after the connections arrived (2 s trigger duration included; run ${recovery.id}: ${recovery.outcome})`);
      assert.ok(scaled - surgeAt < 30_000);
      assert.match(await timeline(recovery.incident), /step 1 of 2: add 1 gateway node \(at most 3\)/);
    } finally {
      for (const client of clients) client.close();
    }
    const restore = await newRun("scale-out-on-surge", "restore", seen);
    assert.deepEqual(steps(restore), ["scale-in:succeeded"]);
    assert.equal((await fleet("GET", "/nodes")).nodes.length, 2, "back to two nodes once the surge left");
  });

  it("/metrics shows every role: the web's scrape carries what the worker, agent and scheduler counted; the gateway's its nodes", async () => {
    const scrape = async (): Promise<string> => {
      const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(res.status, 200);
      return res.text();
    };
    // Snapshots are published every 5 s: wait for one taken after the last scenario ended.
    const text = await waitFor("every role's metrics in one scrape", async () => {
      const now = await scrape();
      const restores = metricValue(now, "pulseboard_playbook_runs_ended_total", { playbook: "scale-out-on-surge", kind: "restore", state: "succeeded" }) ?? 0;
      return restores >= 1 ? now : undefined;
    }, 20_000, 500);
    for (const [role, count] of [["web", 1], ["worker", 1], ["agent", 1], ["scheduler", 1]] as const) {
      assert.equal(metricValue(text, "pulseboard_instances", { role }), count, `${role} processes`);
    }
    assert.ok((metricValue(text, "pulseboard_playbook_runs_ended_total", { playbook: "restart-stuck-gateway-node", kind: "recovery", state: "succeeded" }) ?? 0) >= 2, "both restart scenarios ended succeeded");
    assert.ok((metricValue(text, "pulseboard_playbook_runs_ended_total", { playbook: "bypass-clogged-cache", kind: "restore", state: "succeeded" }) ?? 0) >= 1);
    assert.ok((metricValue(text, "pulseboard_incident_events_total", { event: "opened" }) ?? 0) >= 1, "the worker counted the incidents it opened");
    assert.ok((metricValue(text, "pulseboard_probe_runs_total", { probe: "cache-ping", location: "local", status: "failed" }) ?? 0) >= 1, "the agent counted the cache's failed pings");
    assert.ok((metricValue(text, "pulseboard_probe_runs_total", { probe: "gateway-connect", status: "ok" }) ?? 0) > 10);
    assert.ok((metricValue(text, "pulseboard_jobs_total", { queue: "playbooks", result: "completed" }) ?? 0) >= 1);
    assert.ok((metricValue(text, "pulseboard_scheduler_process_resident_memory_bytes") ?? 0) > 0, "the scheduler's runtime");
    assert.equal(metricValue(text, "pulseboard_queue_jobs", { queue: "probe-local", state: "failed" }), 0);

    const token = readFileSync(path.join(home, "gateway-admin-token"), "utf8").trim();
    const gateway = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${token}` } })).text();
    assert.ok(metricValue(gateway, "pulseboard_gateway_connections", { node: "node-0" }) !== undefined, "the gateway's /metrics has its nodes' connections");
    assert.ok((metricValue(gateway, "pulseboard_gateway_connections_accepted_total") ?? 0) > 10);

    // Each secret opens its own door only: the admin token is not the gateway's, nor the other way round.
    assert.equal((await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 401, "the admin token does not open the gateway admin API");
    assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${token}` } })).status, 401, "the gateway admin token does not open the web admin side");
    assert.notEqual(token, ADMIN_TOKEN);
  });
});
