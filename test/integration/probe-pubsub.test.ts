import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import type { PlatformTargets } from "../../src/probe-runtime/index.ts";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { activeResources, expectNoLeak, runKind } from "../helpers/probes.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";

describe("probe kind pubsub (two real gateway nodes sharing a cache Redis)", () => {
  let redis: TestRedis;
  let nodeA: TestNode;
  let nodeB: TestNode;
  let targets: PlatformTargets;
  const run = (probe: string, settings: Record<string, unknown> = {}, timeoutMs = 2_000, over: Partial<PlatformTargets> = {}) =>
    runKind("pubsub", settings, { targets: { ...targets, ...over }, timeoutMs, probe });

  before(async () => {
    redis = await startRedis();
    nodeA = await startTestNode({ index: 0, cacheUrl: redis.url, yaml: "  faults: true\n" });
    nodeB = await startTestNode({ index: 1, cacheUrl: redis.url, yaml: "  faults: true\n" });
    targets = { gatewayUrl: nodeA.url, gatewayNodeUrls: [nodeA.url, nodeB.url], cacheRedisUrl: redis.url };
  });
  after(async () => {
    await nodeA.node.stop();
    await nodeB.node.stop();
    await redis.stop();
  });

  it("delivers across nodes in order with consecutive serials, and takes the next ordered pair each run", async () => {
    const first = await run("pubsub-pairs");
    assert.equal(first.status, "ok", first.error);
    assert.deepEqual(Object.keys(first.phases), [
      "nodes",
      "connect node-0",
      "upgrade node-0",
      "welcome node-0",
      "subscribe node-0",
      "connect node-1",
      "upgrade node-1",
      "welcome node-1",
      "publish node-1",
      "deliver node-1 → node-0",
    ]);
    assert.equal(first.details?.nodes_from, "config");
    assert.equal((first.details?.latency_ms as number[]).length, 3);
    assert.equal(first.latency_ms, Math.max(...(first.details?.latency_ms as number[])));
    const serials = first.details?.serials as string[];
    assert.deepEqual(serials.map((s) => Number(s.split(":")[1]) - Number(serials[0]!.split(":")[1])), [0, 1, 2]);

    const second = await run("pubsub-pairs");
    assert.equal(second.status, "ok", second.error);
    assert.deepEqual([second.details?.subscriber, second.details?.publisher], ["node-1", "node-0"]);
    const third = await run("pubsub-pairs");
    assert.deepEqual([third.details?.subscriber, third.details?.publisher], ["node-0", "node-1"], "round again");
  });

  it("pairs a lone node with itself", async () => {
    const result = await run("pubsub-lone", { nodes: [nodeA.url], messages: 5 });
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual([result.details?.subscriber, result.details?.publisher], ["node-0", "node-0"]);
  });

  it("names the node that refuses connections, and the phase", async () => {
    const dead = `ws://127.0.0.1:${await freePort()}/ws`;
    const result = await run("pubsub-dead-node", { nodes: [nodeA.url, dead] });
    assert.equal(result.failed_phase, "connect node-1");
    assert.match(result.error!, /^connect node-1: connection refused by node-1 \(127\.0\.0\.1:\d+\)/);
  });

  it("fails naming the unacknowledged publish when the publishing node drops publishes", async () => {
    nodeB.node.fault({ fault: "drop-publishes", ms: 10_000 });
    try {
      const result = await run("pubsub-drop", {}, 1_500);
      assert.equal(result.failed_phase, "publish node-1");
      assert.match(result.error!, /^publish node-1: node-1 \(127\.0\.0\.1:\d+\) did not acknowledge publish 1 of 3 within \d+ ms: the broker took the frame but never confirmed it$/);
    } finally {
      nodeB.node.fault({ fault: "clear" });
    }
  });

  it("fails naming every message that never crossed when fan-out between nodes is lost (bypass mode)", async () => {
    await nodeA.node.setCacheMode("bypass");
    await nodeB.node.setCacheMode("bypass");
    try {
      const result = await run("pubsub-bypass", { messages: 2 }, 1_500);
      assert.equal(result.failed_phase, "deliver node-1 → node-0");
      assert.match(
        result.error!,
        /^deliver node-1 → node-0: message 1 of 2 \(serial \w+:1\) never arrived; message 2 of 2 \(serial \w+:2\) never arrived \(channel pulseboard\.probe\.pubsub\.pubsub-bypass\.local; cross-node delivery node-1 → node-0 failed\)$/,
      );
    } finally {
      await nodeA.node.setCacheMode("normal");
      await nodeB.node.setCacheMode("normal");
    }
  });

  it("fails with the gateway's cache_unavailable when the cache Redis is paused", async () => {
    await redis.pause(1_500);
    const result = await run("pubsub-paused", {}, 3_000);
    assert.equal(result.failed_phase, "subscribe node-0");
    assert.match(result.error!, /node-0 \(127\.0\.0\.1:\d+\) answered cache_unavailable: cannot subscribe/);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  });

  it("uses the configured node URLs when the admin API cannot be reached", async () => {
    const result = await run("pubsub-no-admin", {}, 2_000, { gatewayAdmin: { url: `http://127.0.0.1:${await freePort()}`, token: "t" } });
    assert.equal(result.status, "ok", result.error);
    assert.equal(result.details?.nodes_from, "config");
  });

  it("leaves no socket or timer behind after passes and failures", async () => {
    const baseline = activeResources();
    const dead = `ws://127.0.0.1:${await freePort()}/ws`;
    nodeB.node.fault({ fault: "drop-publishes", ms: 10_000 });
    const dropped = await Promise.all(Array.from({ length: 3 }, (_, i) => run(`pubsub-leak-drop-${i}`, { nodes: [nodeA.url, nodeB.url] }, 600)));
    nodeB.node.fault({ fault: "clear" });
    const others = await Promise.all([
      ...Array.from({ length: 3 }, (_, i) => run(`pubsub-leak-ok-${i}`)),
      ...Array.from({ length: 3 }, (_, i) => run(`pubsub-leak-dead-${i}`, { nodes: [nodeA.url, dead] })),
    ]);
    assert.deepEqual(dropped.map((r) => r.failed_phase), Array(3).fill("publish node-1"));
    assert.deepEqual(others.map((r) => r.failed_phase ?? r.status), [...Array(3).fill("ok"), ...Array(3).fill("connect node-1")]);
    await expectNoLeak(baseline);
  });
});
