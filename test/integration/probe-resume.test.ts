import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import type { PlatformTargets } from "../../src/probe-runtime/index.ts";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { activeResources, expectNoLeak, runKind } from "../helpers/probes.ts";
import { startRedis, type TestRedis } from "../helpers/redis.ts";

describe("probe kind resume (real gateway nodes sharing a cache Redis)", () => {
  let redis: TestRedis;
  let nodes: TestNode[];
  /** Two nodes that keep only the last 10 messages of a channel. */
  let short: TestNode[];
  let targets: PlatformTargets;
  const run = (probe: string, settings: Record<string, unknown> = {}, timeoutMs = 2_000) => runKind("resume", settings, { targets, timeoutMs, probe });

  before(async () => {
    redis = await startRedis();
    nodes = [await startTestNode({ index: 0, cacheUrl: redis.url, yaml: "  faults: true\n" }), await startTestNode({ index: 1, cacheUrl: redis.url })];
    short = [
      await startTestNode({ index: 2, cacheUrl: redis.url, yaml: "  history: { size: 10 }\n" }),
      await startTestNode({ index: 3, cacheUrl: redis.url, yaml: "  history: { size: 10 }\n" }),
    ];
    targets = { gatewayUrl: nodes[0]!.url, gatewayNodeUrls: nodes.map((n) => n.url), cacheRedisUrl: redis.url };
  });
  after(async () => {
    for (const node of [...nodes, ...short]) await node.node.stop();
    await redis.stop();
  });

  it("resumes on the other node with every message published while away, once and in order", async () => {
    const result = await run("resume-ok", { messages: 20 });
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(
      Object.keys(result.phases).filter((p) => !/^(connect|upgrade|welcome) /.test(p)),
      ["nodes", "subscribe node-0", "anchor node-0", "publish node-0", "resume node-1", "replay node-1"],
    );
    assert.deepEqual([result.details?.left, result.details?.resumed_on, result.details?.replayed], ["node-0", "node-1", 20]);
    const next = await run("resume-ok", { messages: 3 });
    assert.deepEqual([next.details?.left, next.details?.resumed_on], ["node-1", "node-0"], "the next run leaves from the other node");
  });

  it("fails naming recovered:false when more was published while away than the history holds", async () => {
    // The cache trims history approximately (whole stream nodes of 100 entries), so "size 10" keeps up to ~110.
    const settings = { nodes: short.map((n) => n.url), messages: 150 };
    const result = await run("resume-lost", settings);
    assert.equal(result.status, "failed");
    assert.equal(result.failed_phase, "resume node-1");
    assert.match(
      result.error!,
      /^resume node-1: node-1 answered recovered:false to a resume from \w+:\d+ on pulseboard\.probe\.resume\.resume-lost\.local: it no longer holds all 150 messages published while the client was away/,
    );
    const fits = await run("resume-fits", { ...settings, messages: 9 });
    assert.equal(fits.status, "ok", `9 messages and the anchor fit a history of 10: ${fits.error}`);
  });

  it("fails naming the unacknowledged publish when the node drops publishes", async () => {
    nodes[0]!.node.fault({ fault: "drop-publishes", ms: 10_000 });
    try {
      const result = await run("resume-drop", { nodes: [nodes[0]!.url, nodes[1]!.url] }, 1_000);
      assert.equal(result.failed_phase, "anchor node-0");
      assert.match(result.error!, /node-0 \(127\.0\.0\.1:\d+\) did not acknowledge the first publish/);
    } finally {
      nodes[0]!.node.fault({ fault: "clear" });
    }
  });

  it("names the node it could not come back to", async () => {
    const dead = `ws://127.0.0.1:${await freePort()}/ws`;
    const result = await run("resume-dead", { nodes: [nodes[0]!.url, dead] });
    assert.equal(result.failed_phase, "connect node-1");
    assert.match(result.error!, /connection refused by node-1 \(127\.0\.0\.1:\d+\)/);
  });

  it("leaves no socket or timer behind after passes and failures", async () => {
    const baseline = activeResources();
    const dead = `ws://127.0.0.1:${await freePort()}/ws`;
    const results = await Promise.all([
      ...Array.from({ length: 3 }, (_, i) => run(`resume-leak-ok-${i}`)),
      ...Array.from({ length: 3 }, (_, i) => run(`resume-leak-lost-${i}`, { nodes: short.map((n) => n.url), messages: 150 })),
      ...Array.from({ length: 3 }, (_, i) => run(`resume-leak-dead-${i}`, { nodes: [nodes[0]!.url, dead] })),
    ]);
    assert.deepEqual(results.map((r) => r.failed_phase ?? r.status), [...Array(3).fill("ok"), ...Array(3).fill("resume node-1"), ...Array(3).fill("connect node-1")]);
    await expectNoLeak(baseline);
  });
});
