import assert from "node:assert/strict";
import net from "node:net";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import type { GatewayNode } from "../../src/gateway/index.ts";
import { startTestNode } from "../helpers/gateway.ts";
import { runProbe, type PlatformTargets } from "../../src/probe-runtime/index.ts";
import { probeRegistry, testLog } from "../helpers/config.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";

describe("probes against real targets", () => {
  let node: GatewayNode;
  let redis: TestRedis;
  let targets: PlatformTargets;

  before(async () => {
    redis = await startRedis();
    const started = await startTestNode({});
    node = started.node;
    targets = { gatewayUrl: started.url, gatewayNodeUrls: [], cacheRedisUrl: redis.url };
  });
  after(async () => {
    await node.stop();
    await redis.stop();
  });

  async function run(kind: string, settings: Record<string, unknown>, timeoutMs = 2_000, over: Partial<PlatformTargets> = {}) {
    const registry = await probeRegistry();
    const probe = registry.get(kind)!;
    return runProbe(probe, probe.configSchema.parse(settings), { probe: kind, location: "local", timeoutMs, targets: { ...targets, ...over }, log: testLog() });
  }

  it("websocket: passes on a healthy gateway, timing every phase", async () => {
    const result = await run("websocket", { channel: "probe.test" });
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["connect", "upgrade", "welcome", "subscribe", "echo"]);
    assert.equal(result.details?.node, "node-0");
  });

  it("websocket: a refused connection fails in the connect phase, saying so", async () => {
    const port = await freePort();
    const result = await run("websocket", { url: `ws://127.0.0.1:${port}/ws` });
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "connect");
    assert.match(result.error!, /connection refused/);
  });

  it("websocket: a server that accepts TCP but never upgrades times out in the upgrade phase", async () => {
    const silent = net.createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    const started = Date.now();
    const result = await run("websocket", { url: `ws://127.0.0.1:${port}/ws` }, 700);
    silent.close();
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "upgrade");
    assert.match(result.error!, /timed out after 700 ms during upgrade/);
    assert.ok(Date.now() - started < 1_500, "the deadline held");
  });

  it("redis: passes on a healthy server", async () => {
    const result = await run("redis", {});
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["connect", "ping"]);
  });

  it("redis: a paused server fails at the deadline in the ping phase", async () => {
    await redis.pause(1_500);
    const result = await run("redis", {}, 500);
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "ping");
    assert.match(result.error!, /timed out after 500 ms during ping/);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
  });

  it("redis: a refused connection names the host", async () => {
    const port = await freePort();
    const result = await run("redis", { url: `redis://127.0.0.1:${port}` });
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "connect");
    assert.match(result.error!, new RegExp(`connection refused by 127.0.0.1:${port}`));
  });

  it("a slow pass beyond degraded_over is reported degraded", async () => {
    const registry = await probeRegistry();
    const probe = registry.get("redis")!;
    const result = await runProbe(probe, {}, { probe: "redis", location: "local", timeoutMs: 2_000, degradedOverMs: 0.001, targets, log: testLog() });
    assert.equal(result.status, "degraded");
    assert.match(result.error!, /over the 0.001 ms threshold/);
  });
});
