import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import type { PlatformTargets, ProbeContext } from "../../src/probe-runtime/index.ts";
import { testLog } from "../helpers/config.ts";
import { startTestNode, type TestNode } from "../helpers/gateway.ts";
import { activeResources, expectNoLeak, runKind } from "../helpers/probes.ts";
import { waitFor } from "../helpers/wait.ts";

describe("probe kind surge (real gateway nodes, 200 connections)", () => {
  let roomy: TestNode;
  let small: TestNode;
  let targets: PlatformTargets;
  const run = (settings: Record<string, unknown>, timeoutMs = 5_000, over: Partial<PlatformTargets> = {}) =>
    runKind("surge", settings, { targets: { ...targets, ...over }, timeoutMs });
  /** Every connection the probe opened is gone from the node too. */
  const drained = (node: TestNode) => waitFor(`${node.url} to have no connections`, () => node.node.stats().connections === 0, 3_000, 20);

  before(async () => {
    roomy = await startTestNode({ yaml: "  faults: true\n" });
    small = await startTestNode({ index: 1, yaml: "  max_connections: 150\n" });
    targets = { gatewayUrl: roomy.url, gatewayNodeUrls: [roomy.url] };
  });
  after(async () => {
    await roomy.node.stop();
    await small.node.stop();
  });

  it("welcomes every connection of a 200-connection ramp, reports p50/p99, holds, and closes them all", async () => {
    const result = await run({ connections: 200, rate: 1_000, hold: "300ms" });
    assert.equal(result.status, "ok", result.error);
    assert.deepEqual(Object.keys(result.phases), ["ramp", "hold"]);
    assert.ok(result.phases.ramp! >= 199, `the ramp took ${result.phases.ramp} ms at 1000/s`);
    assert.equal(result.details?.welcomed, 200);
    assert.equal(result.details?.share, 1);
    assert.ok((result.details?.p50_ms as number) <= (result.details?.p99_ms as number));
    assert.equal(result.latency_ms, result.details?.p99_ms);
    await drained(roomy);
  });

  it("fails in the ramp when a node at its limit refuses a share of them, quoting the refusal", async () => {
    const result = await run({ connections: 200, rate: 2_000 }, 5_000, { gatewayUrl: small.url });
    assert.equal(result.failed_phase, "ramp");
    assert.match(
      result.error!,
      /^ramp: only 75% of 200 connections were welcomed \(at least 99% must be\): 50 refused \("the node is at its connection limit; retry in \d+ ms"\); connect p50 [\d.]+ ms, p99 [\d.]+ ms$/,
    );
    await drained(small);
  });

  it("passes the same surge when the share required allows for the refusals, and is degraded by a slow tail", async () => {
    const result = await run({ connections: 200, rate: 2_000, min_share: 0.7, p99_over: "1ms" }, 5_000, { gatewayUrl: small.url });
    assert.equal(result.status, "degraded");
    assert.match(result.error!, /^connect p99 [\d.]+ ms is over 1 ms \(75% of 200 welcomed; connect p50/);
  });

  it("counts handshakes that never finish (slow-handshake fault) as not welcomed in time", async () => {
    roomy.node.fault({ fault: "slow-handshake", ms: 10_000, delayMs: 1_000 });
    try {
      const result = await run({ connections: 20, rate: 200, connect_within: "300ms" }, 2_000);
      assert.equal(result.failed_phase, "ramp");
      assert.match(result.error!, /only 0% of 20 connections were welcomed \(at least 99% must be\): 20 got no welcome in time; none connected/);
    } finally {
      roomy.node.fault({ fault: "clear" });
    }
  });

  it("fails, saying what to change, when the ramp cannot fit in the timeout", async () => {
    const result = await run({ connections: 200, rate: 10 }, 2_000);
    assert.equal(result.error, "a ramp of 200 connections at 10/s (19900 ms) plus a 0 ms hold does not fit in the probe's 2000 ms timeout: raise timeout or rate, or lower connections");
  });

  it("names refused connections when nothing listens", async () => {
    const result = await run({ connections: 10, rate: 1_000 }, 2_000, { gatewayUrl: `ws://127.0.0.1:${await freePort()}/ws` });
    assert.match(result.error!, /only 0% of 10 connections were welcomed .*: 10 failed \("connection refused by 127\.0\.0\.1:\d+: nothing is listening, or it refuses new clients"\)/);
  });

  it("stops the ramp and closes every socket it opened when the run is aborted", async () => {
    const baseline = activeResources();
    const probe = (await import("../../probes/surge.ts")).default;
    const controller = new AbortController();
    const ctx: ProbeContext = {
      probe: "surge",
      location: "local",
      signal: controller.signal,
      timeoutMs: 10_000,
      log: testLog(),
      targets,
      phase: (_name, work) => work(),
    };
    const acceptedBefore = roomy.node.stats().accepted;
    const running = probe.run(probe.configSchema.parse({ connections: 400, rate: 200, hold: "5s" }), ctx);
    await waitFor("the ramp to be under way", () => roomy.node.stats().connections >= 50, 3_000, 10);
    controller.abort(new Error("probe deadline"));
    await assert.rejects(running);
    const abortedAt = Date.now();
    await drained(roomy);
    await expectNoLeak(baseline);
    // A ramp still going at 200/s would have opened about 200 more by now.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1_000 - (Date.now() - abortedAt))));
    const opened = roomy.node.stats().accepted - acceptedBefore;
    assert.ok(opened < 120, `the ramp stopped at the abort (${opened} of 400 connections were opened)`);
  });

  it("leaves no socket or timer behind after passes and failures", async () => {
    const baseline = activeResources();
    const results = await Promise.all([
      run({ connections: 100, rate: 2_000 }),
      run({ connections: 200, rate: 2_000 }, 5_000, { gatewayUrl: small.url }),
      run({ connections: 20, rate: 2_000 }, 2_000, { gatewayUrl: `ws://127.0.0.1:${await freePort()}/ws` }),
    ]);
    assert.deepEqual(results.map((r) => r.failed_phase ?? r.status), ["ok", "ramp", "ramp"]);
    await drained(roomy);
    await drained(small);
    await expectNoLeak(baseline);
  });
});
