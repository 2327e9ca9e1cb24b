import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { freePort } from "../../src/core/index.ts";
import type { GatewayNode } from "../../src/gateway/index.ts";
import { startTestNode } from "../helpers/gateway.ts";
import { bullPrefix, probeQueue, syncSchedules } from "../../src/pipeline/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { startProbePipeline } from "../helpers/pipeline.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * The whole thin slice on real parts: BullMQ job schedulers → agent → probe →
 * evaluate queue → worker → component status → incidents queue → incident.
 */
describe("pipeline end to end (real redis-server, BullMQ, gateway)", () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;
  let config: Config;
  let status: StatusContext;
  let gateway: GatewayNode | undefined;
  let gatewayPort: number;
  const stops: (() => Promise<void>)[] = [];

  const startGateway = async (): Promise<void> => {
    gateway = (await startTestNode({ override: (o) => ({ ...o, port: gatewayPort }) })).node;
  };

  before(async () => {
    redis = await startRedis();
    gatewayPort = await freePort();
    await startGateway();
    const prefix = uniquePrefix("pipe");
    config = await configFrom(`
redis: { prefix: ${prefix} }
evaluation: { quiet_period: 1s }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway }
  - { id: cache, name: Cache }
probes:
  - id: gateway-connect
    kind: websocket
    interval: 1s
    timeout: 800ms
    components: [realtime-gateway]
    with: { url: "ws://127.0.0.1:${gatewayPort}/ws", channel: probe.test }
  - id: cache-ping
    kind: redis
    interval: 1s
    timeout: 800ms
    components: [cache]
`, { REDIS_URL: redis.url, CACHE_REDIS_URL: redis.url });
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    status = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    stops.push(await startProbePipeline({ config, status, commands, blocking }));
  });

  after(async () => {
    for (const stop of stops) await stop();
    await gateway?.stop();
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  it("computes every component's status from real probe results", async () => {
    const states = await waitFor("both components to be evaluated", async () => {
      const components = await status.store.components();
      return components.size === 2 ? components : undefined;
    });
    assert.equal(states.get("realtime-gateway")!.status, "operational");
    assert.equal(states.get("cache")!.status, "operational");
    const results = await status.store.recentResults("gateway-connect", "local", 10);
    assert.ok(results.length >= 1);
    assert.equal(results[0]!.status, "ok");
  });

  it("a stopped gateway takes its component out of operational and opens one automatic incident", async () => {
    await gateway!.stop();
    gateway = undefined;
    const started = Date.now();
    await waitFor("the gateway component to leave operational", async () => {
      const state = (await status.store.components()).get("realtime-gateway");
      return state?.status === "major_outage";
    }, 15_000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed < 12_000, `detected in ${elapsed} ms with 1 s probes and fail_after 2 (expected 2-3 s)`);
    const incident = await waitFor("the automatic incident", async () => (await status.store.unresolvedIncidents())[0]);
    assert.equal(incident.automatic, true);
    assert.equal(incident.impact, "critical");
    assert.deepEqual(incident.components, { "realtime-gateway": "major_outage" });
    assert.match(incident.updates[0]!.detail!, /connection refused/, "on-call reads the cause");
    assert.equal(incident.updates[0]!.body, "New connections to Realtime gateway are failing. We are investigating.", "the public reads what it means");
    assert.equal((await status.store.unresolvedIncidents()).length, 1);
  });

  it("the gateway coming back moves the incident to monitoring, then resolved after the quiet period", async () => {
    await startGateway();
    const resolved = await waitFor("the incident to resolve", async () => {
      const [incident] = await status.store.recentIncidents(1);
      return incident?.status === "resolved" ? incident : undefined;
    }, 10_000);
    assert.deepEqual(resolved.updates.map((u) => u.status), ["investigating", "monitoring", "resolved"]);
    assert.ok(Date.parse(resolved.resolved_at!) - Date.parse(resolved.monitoring_at!) >= 1_000, "resolved after the quiet period");
    assert.deepEqual(resolved.components, { "realtime-gateway": "operational" });
    assert.equal((await status.store.components()).get("realtime-gateway")!.status, "operational");
    const history = await status.store.componentHistory("realtime-gateway");
    assert.deepEqual(history.map((t) => `${t.from}→${t.to}`), ["major_outage→operational", "operational→major_outage"]);
  });

  it("schedules follow the config: a removed probe's scheduler goes away", async () => {
    const queue = new Queue(probeQueue("local"), { connection: commands, prefix: bullPrefix(config.redis.prefix) });
    try {
      const before = (await queue.getJobSchedulers()).map((s) => s.key).sort();
      assert.deepEqual(before, ["cache-ping", "gateway-connect"]);
      const smaller = { ...config, probes: config.probes.filter((p) => p.id !== "cache-ping") };
      const outcome = await syncSchedules(smaller, commands, testLog());
      assert.deepEqual(outcome, { upserted: 1, removed: 1 });
      assert.deepEqual((await queue.getJobSchedulers()).map((s) => s.key), ["gateway-connect"]);
    } finally {
      await queue.close();
    }
  });
});
