import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runProbe } from "../../src/probe-runtime/index.ts";
import { configFrom, probeRegistry, problemsOf, testLog } from "../helpers/config.ts";

/** A file with a remote location first, so "the first location" and "the first local one" differ. */
const file = (probe: string) => `
locations: [{ id: far, remote: true }, { id: home }, { id: away }]
components: [{ id: archive, name: Message archive }]
probes:
  - ${probe}
`;

describe("heartbeat checks in pulseboard.yaml", () => {
  it("judges a heartbeat at one location, the first that is not remote, with quorum 1 and its every as interval", async () => {
    const config = await configFrom(file("{ id: archiver, kind: heartbeat, components: [archive], with: { every: 5m, grace: 1m } }"));
    const [probe] = config.probes;
    assert.deepEqual(probe!.locations, ["home"]);
    assert.equal(probe!.quorum, 1);
    assert.equal(probe!.interval, 300_000);
    assert.deepEqual(probe!.with, { every: 300_000, grace: 60_000 });
    assert.equal(probe!.fail_after, 1, "one missed deadline fails it: the grace is its hysteresis");
    assert.equal(probe!.recover_after, 1, "one ping brings it back");
  });

  it("takes the one location it is given, and a grace of 1m when none is", async () => {
    const config = await configFrom(file("{ id: archiver, kind: heartbeat, locations: [away], with: { every: 30s } }"));
    assert.deepEqual(config.probes[0]!.locations, ["away"]);
    assert.deepEqual(config.probes[0]!.with, { every: 30_000, grace: 60_000 });
  });

  it("names what is wrong: no every, several locations, a bad duration, hysteresis settings", async () => {
    assert.deepEqual(await problemsOf(file("{ id: archiver, kind: heartbeat, components: [archive] }")), ['probes[0].with.every: required: how often the job pings, like "5m"']);
    assert.deepEqual(await problemsOf(file("{ id: archiver, kind: heartbeat, locations: [home, away], with: { every: 5m } }")), [
      'probes[0].locations: a heartbeat check is judged at one location (its pings come to the control plane, not from agents); name one, or leave locations out for "home"',
    ]);
    assert.deepEqual(await problemsOf(file("{ id: archiver, kind: heartbeat, locations: [mars], with: { every: 500ms, grace: soon } }")), [
      'probes[0].locations[0]: no location has the id "mars"',
      "probes[0].with.every: must be at least 1s",
      'probes[0].with.grace: expected a duration like "2s", got "soon"',
    ]);
    assert.deepEqual(await problemsOf(file("{ id: archiver, kind: heartbeat, fail_after: 3, recover_after: 2, with: { every: 5m, gace: 1m } }")), [
      "probes[0].fail_after: does not apply to a heartbeat check: one missed deadline (every + grace) fails it; give the job more time with with.grace",
      'probes[0].with: Unrecognized key: "gace" (did you mean "grace"?)',
    ]);
  });

  it("is never run by an agent: its run fails saying why", async () => {
    const kind = (await probeRegistry()).get("heartbeat")!;
    const result = await runProbe(kind, { every: 60_000, grace: 60_000 }, { probe: "archiver", location: "home", timeoutMs: 1_000, targets: { gatewayUrl: "ws://127.0.0.1:1/ws", gatewayNodeUrls: [] }, log: testLog() });
    assert.equal(result.status, "failed");
    assert.match(result.error!, /^a heartbeat check is not run by agents: it is judged by the pings it gets at \/api\/heartbeat\/<probe id>/);
  });
});
