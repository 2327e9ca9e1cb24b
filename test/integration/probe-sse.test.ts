import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import type { PlatformTargets } from "../../src/probe-runtime/index.ts";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { activeResources, expectNoLeak, runKind } from "../helpers/probes.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";
import { TestClient } from "../helpers/ws-client.ts";

describe("probe kind sse (real gateway node and cache Redis)", () => {
  let redis: TestRedis;
  let gateway: TestNode;
  let full: TestNode;
  let kept: TestClient;
  let targets: PlatformTargets;
  const run = (settings: Record<string, unknown> = {}, timeoutMs = 2_000, over: Partial<PlatformTargets> = {}) =>
    runKind("sse", settings, { targets: { ...targets, ...over }, timeoutMs });

  before(async () => {
    redis = await startRedis();
    gateway = await startTestNode({ cacheUrl: redis.url, yaml: "  faults: true\n" });
    full = await startTestNode({ index: 1, yaml: "  max_connections: 1\n" });
    kept = await TestClient.connect(full.url);
    await kept.next((f) => f.type === "welcome");
    targets = { gatewayUrl: gateway.url, gatewayNodeUrls: [gateway.url], cacheRedisUrl: redis.url };
  });
  after(async () => {
    kept.close();
    await gateway.node.stop();
    await full.node.stop();
    await redis.stop();
  });

  it("delivers a published nonce over SSE with the serial as event id, on the gateway's HTTP side", async () => {
    const result = await run();
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["connect", "stream", "subscribed", "publish", "deliver"]);
    assert.equal(result.details?.url, gateway.httpUrl);
    assert.equal(result.details?.node, "node-0");
    assert.equal(result.details?.channel, "pulseboard.probe.sse.sse.local");
    assert.match(String(result.details?.serial), /^[a-z0-9]+:\d+$/);
    const again = await run();
    assert.equal(Number(String(again.details?.serial).split(":")[1]), Number(String(result.details?.serial).split(":")[1]) + 1, "the next run's message is the channel's next serial");
  });

  it("fails in the connect phase when nothing listens", async () => {
    const port = await freePort();
    const result = await run({ url: `http://127.0.0.1:${port}/` });
    assert.equal(result.failed_phase, "connect");
    assert.equal(result.error, `connect: connection refused by 127.0.0.1:${port}: nothing is listening, or it refuses new clients`);
  });

  it("fails when the node is at max_connections, quoting its refusal and Retry-After", async () => {
    const result = await run({}, 2_000, { gatewayUrl: full.url });
    assert.equal(result.failed_phase, "stream");
    assert.match(result.error!, /^stream: 127\.0\.0\.1:\d+ refused the SSE stream \(503 over_capacity: the node refuses new connections right now\); it tells clients to retry after \d+ s$/);
  });

  it("fails in the publish phase when the gateway drops publishes (drop-publishes fault)", async () => {
    gateway.node.fault({ fault: "drop-publishes", ms: 10_000 });
    try {
      const result = await run();
      assert.equal(result.failed_phase, "publish");
      assert.equal(result.error, "publish: POST /publish was accepted (202) but the message was not stored: the gateway is dropping publishes");
    } finally {
      gateway.node.fault({ fault: "clear" });
    }
  });

  it("a paused cache fails the subscribe with the gateway's cache_unavailable error event", async () => {
    await redis.pause(1_500);
    const result = await run({}, 3_000);
    assert.equal(result.failed_phase, "subscribed");
    assert.match(result.error!, /^subscribed: 127\.0\.0\.1:\d+ sent an error event: cache_unavailable: cannot subscribe to pulseboard\.probe\.sse\.sse\.local: the cache did not answer within 1000 ms/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  });

  it("leaves no socket or timer behind after passes, refusals and timeouts", async () => {
    const baseline = activeResources();
    const port = await freePort();
    const results = await Promise.all([
      ...Array.from({ length: 3 }, () => run()),
      ...Array.from({ length: 3 }, () => run({ url: `http://127.0.0.1:${port}/` })),
      ...Array.from({ length: 3 }, () => run({}, 2_000, { gatewayUrl: full.url })),
    ]);
    assert.deepEqual(results.map((r) => r.failed_phase ?? r.status), [...Array(3).fill("ok"), ...Array(3).fill("connect"), ...Array(3).fill("stream")]);
    await expectNoLeak(baseline);
  });
});
