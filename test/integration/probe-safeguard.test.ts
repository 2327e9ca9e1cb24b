import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { freePort } from "../../src/core/index.ts";
import { activeResources, expectNoLeak, runKind } from "../helpers/probes.ts";

/**
 * The safeguard kind's own failures, which need no fleet. Its verdicts on
 * locked, full and frozen nodes run against a real fleet in
 * test/e2e/probe-fleet.slow.test.ts.
 */
describe("probe kind safeguard (without a fleet)", () => {
  it("says what to configure when it has no admin API to read", async () => {
    const result = await runKind("safeguard", {}, { targets: { gatewayUrl: "ws://127.0.0.1:1/ws", gatewayNodeUrls: [] } });
    assert.equal(result.status, "failed");
    assert.match(result.error!, /the safeguard probe reads the gateway admin API: set `with\.admin\.url` \(and token\)/);
  });

  it("fails in the stats phase, saying so, when the admin API refuses connections", async () => {
    const baseline = activeResources();
    const port = await freePort();
    const result = await runKind("safeguard", { admin: { url: `http://127.0.0.1:${port}`, token: "t".repeat(16) } }, { targets: { gatewayUrl: "ws://127.0.0.1:1/ws", gatewayNodeUrls: [] } });
    assert.equal(result.failed_phase, "stats");
    assert.equal(result.error, `stats: the gateway admin API at 127.0.0.1:${port} refused the connection: is \`pulseboard gateway\` running?`);
    await expectNoLeak(baseline);
  });
});
