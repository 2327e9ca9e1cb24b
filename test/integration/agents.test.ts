import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import request from "supertest";
import { ConfigWatcher, loadConfig, type Config } from "../../src/config/index.ts";
import { bullPrefix, NotificationControl, ProbeControl, probeQueue, startAgent, startEvaluator, syncSchedules, type Agent } from "../../src/pipeline/index.ts";
import { readSummary, StatusStore, type StatusContext } from "../../src/status/index.ts";
import { createWebApp, SnapshotService, type WebApp } from "../../src/web/index.ts";
import { probeRegistry, testLog } from "../helpers/config.ts";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";
import { captureLog } from "../helpers/receivers.ts";

const TOKEN = "agents-test-admin-token";

function yaml(prefix: string, gatewayUrl: string, probes: string): string {
  return `
redis: { prefix: ${prefix} }
locations: [{ id: eu }, { id: us }]
components: [{ id: realtime-gateway, name: Realtime gateway }]
probes:
${probes.replaceAll("GATEWAY", gatewayUrl)}
`;
}

const CONNECT = `
  - id: connect
    kind: websocket
    interval: 1s
    timeout: 900ms
    components: [realtime-gateway]
    with: { url: "GATEWAY", channel: null }`;

/**
 * Agents at two locations, the scheduler following an edited config, and the
 * admin API's probe controls, all on real BullMQ queues.
 */
describe("agents, locations and live config (real redis-server, BullMQ, gateway)", () => {
  let redis: TestRedis;
  let gateway: TestNode;
  let dir: string;
  let file: string;
  let config: Config;
  let watcher: ConfigWatcher;
  let blocking: Redis;
  let commands: Redis;
  let status: StatusContext;
  const agents: Agent[] = [];
  const watcherLog = captureLog();
  const stops: (() => Promise<unknown>)[] = [];

  before(async () => {
    redis = await startRedis();
    gateway = await startTestNode({});
    dir = mkdtempSync(path.join(os.tmpdir(), "pulseboard-agents-"));
    file = path.join(dir, "pulseboard.yaml");
    writeFileSync(file, yaml(uniquePrefix("agents"), gateway.url, CONNECT));
    const registry = await probeRegistry();
    const env = { REDIS_URL: redis.url };
    config = loadConfig({ file, env, probeKinds: registry });
    watcher = new ConfigWatcher(config, { env, probeKinds: registry }, watcherLog.log, 200);
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    status = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    await syncSchedules(config, commands, testLog());
    for (const location of ["eu", "us"]) agents.push(startAgent({ config, registry, location, connection: blocking, log: testLog() }));
    const evaluator = startEvaluator({ config, status, connection: blocking, log: testLog() });
    watcher.onChange((next) => {
      void syncSchedules(next, commands, testLog());
      for (const agent of agents) agent.update(next);
      evaluator.update(next);
    });
    stops.push(...agents.map((a) => () => a.close()), () => evaluator.close());
  });

  after(async () => {
    watcher.stop();
    for (const stop of stops) await stop();
    await gateway.node.stop();
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  it("runs the same probe from two locations and keeps their results apart", async () => {
    await waitFor("results from both locations", async () => {
      const last = await status.store.lastResults("connect", ["eu", "us"]);
      return last.size === 2;
    }, 8_000);
    for (const location of ["eu", "us"]) {
      const results = await status.store.recentResults("connect", location, 10);
      assert.ok(results.length >= 1);
      assert.ok(results.every((r) => r.location === location && r.probe === "connect"));
      assert.equal(results[0]!.status, "ok");
    }
    const states = await status.store.probeStates("connect");
    assert.deepEqual([...states.keys()].sort(), ["eu", "us"]);
  });

  it("follows an edited interval within one interval, and stops a removed probe", async () => {
    const queue = new Queue(probeQueue("eu"), { connection: commands, prefix: bullPrefix(config.redis.prefix) });
    try {
      const every = async () => (await queue.getJobSchedulers()).find((s) => s.key === "connect")?.every;
      assert.equal(Number(await every()), 1_000);
      const edited = Date.now();
      writeFileSync(file, readFileSync(file, "utf8").replace("interval: 1s", "interval: 3s").replace("timeout: 900ms", "timeout: 2s"));
      await waitFor("the schedule to follow the edit", async () => Number(await every()) === 3_000, 10_000, 50);
      const took = Date.now() - edited;
      assert.ok(took < 5_000, `schedule changed ${took} ms after the edit (old interval 1 s, new 3 s; expected about 1 s)`);

      writeFileSync(file, readFileSync(file, "utf8").replace(/probes:[\s\S]*$/, "probes: []\n"));
      await waitFor("the schedule to be removed", async () => (await every()) === undefined, 3_000, 50);
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const lastRun = (await status.store.recentResults("connect", "eu", 1))[0]!;
      await new Promise((resolve) => setTimeout(resolve, 3_500));
      assert.equal((await status.store.recentResults("connect", "eu", 1))[0]!.id, lastRun.id, "no run after the probe was removed");
    } finally {
      await queue.close();
    }
  });

  it("keeps running on the old config when an edit is invalid", async () => {
    writeFileSync(file, yaml(config.redis.prefix, gateway.url, CONNECT));
    await waitFor("the probe to be back", () => watcher.config.probes.length === 1, 3_000, 50);
    const rejections = () => watcherLog.text().split("configuration changed but is invalid").length - 1;
    const rejectedBefore = rejections();
    writeFileSync(file, "probes: [ { id: broken, kind: websocket, interval: soon } ]\n");
    await waitFor("the watcher to refuse the edit", () => rejections() > rejectedBefore, 5_000, 50);
    assert.match(watcherLog.text(), /interval/, "naming the bad setting");
    const refusedAt = Date.now();
    await waitFor(
      "a run of the old config's probe after the refusal",
      async () => Date.parse((await status.store.recentResults("connect", "eu", 1))[0]?.started_at ?? "0") > refusedAt,
      10_000,
      100,
    );
    assert.deepEqual(watcher.config.probes.map((p) => p.id), ["connect"]);
  });

  it("admin API: lists probes, pauses and resumes schedules, runs one now at a location", async () => {
    writeFileSync(file, yaml(config.redis.prefix, gateway.url, CONNECT));
    await waitFor("the probe to be back", () => watcher.config.probes.length === 1, 3_000, 50);
    const probes = new ProbeControl({ config: () => watcher.config, connection: commands, store: status.store, log: testLog() });
    const snapshot = SnapshotService.forStore(status, () => config, { refreshMs: 60_000, log: testLog() });
    await snapshot.start();
    const app = createWebApp({ config, liveConfig: () => watcher.config, status, snapshot, adminTokens: [TOKEN], ready: () => status.store.ping(), probes, notifications: new NotificationControl({ config: () => config, connection: commands, store: status.store }), log: testLog() });
    const auth = { authorization: `Bearer ${TOKEN}` };
    const queue = new Queue(probeQueue("us"), { connection: commands, prefix: bullPrefix(config.redis.prefix) });
    try {
      await waitFor("a last result per location", async () => {
        const { body } = await request(app).get("/admin/api/probes").set(auth).expect(200);
        return body.probes[0].locations.every((l: { last_result: unknown }) => l.last_result);
      }, 8_000);
      await request(app).post("/admin/api/probes/connect/pause").set(auth).expect(200, { probe: "connect", paused: true });
      assert.deepEqual(await queue.getJobSchedulers(), []);
      const { body } = await request(app).get("/admin/api/probes").set(auth).expect(200);
      assert.equal(body.probes[0].paused, true);
      const run = await request(app).post("/admin/api/probes/connect/run").set(auth).send({ location: "us" }).expect(200);
      assert.equal(run.body.result.location, "us");
      assert.equal(run.body.result.status, "ok");
      assert.deepEqual(Object.keys(run.body.result.phases), ["connect", "upgrade", "welcome"]);
      await request(app).post("/admin/api/probes/connect/run").set(auth).send({ location: "mars" }).expect(400);
      await request(app).post("/admin/api/probes/ghost/pause").set(auth).expect(404);
      await request(app).post("/admin/api/probes/connect/resume").set(auth).expect(200, { probe: "connect", paused: false });
      assert.equal((await queue.getJobSchedulers()).length, 1);
      const latency = await request(app).get("/admin/api/probes/connect/latency?range=24h").set(auth).expect(200);
      assert.ok(latency.body.points.reduce((n: number, p: { count: number }) => n + p.count, 0) >= 2);
      await request(app).get("/admin/api/probes/connect/latency?range=1y").set(auth).expect(400);
      const uptime = await request(app).get("/admin/api/components/realtime-gateway/uptime?days=7").set(auth).expect(200);
      assert.equal(uptime.body.days.length, 7);
    } finally {
      await queue.close();
      await probes.close();
      await snapshot.stop();
    }
  });

  it("run-now answers 504 naming the location when no agent consumes its queue", async () => {
    for (const agent of agents.splice(0)) await agent.close();
    stops.splice(0, 2);
    const fast = { ...watcher.config, probes: watcher.config.probes.map((p) => ({ ...p, timeout: 100 })) };
    const probes = new ProbeControl({ config: () => fast, connection: commands, store: status.store, log: testLog() });
    try {
      await assert.rejects(probes.runNow(fast.probes[0]!, "eu"), /no agent at location eu ran connect within 10 s/);
    } finally {
      await probes.close();
    }
  });
});
