import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResolvedProbe } from "../../src/config/index.ts";
import { componentStatusFor, nextLocationState, probeState } from "../../src/pipeline/index.ts";
import type { ProbeResult, ProbeStatus } from "../../src/probe-runtime/index.ts";
import type { ProbeLocationState } from "../../src/status/index.ts";
import { configFrom } from "../helpers/config.ts";

async function probe(extra = ""): Promise<ResolvedProbe> {
  const config = await configFrom(`
locations: [{ id: eu }, { id: us }, { id: ap }]
components: [{ id: chat, name: Chat }]
probes:
  - id: p
    kind: websocket
    components: [chat]
${extra}`);
  return config.probes[0]!;
}

let counter = 0;
function result(status: ProbeStatus, location = "eu"): ProbeResult {
  counter++;
  const at = new Date(Date.UTC(2026, 0, 1, 0, 0, counter)).toISOString();
  return { id: `r${counter}`, probe: "p", kind: "websocket", location, status, latency_ms: 5, phases: {}, started_at: at, finished_at: at };
}

function feed(p: ResolvedProbe, statuses: ProbeStatus[], start?: ProbeLocationState): ProbeLocationState[] {
  const states: ProbeLocationState[] = [];
  let state = start;
  for (const status of statuses) {
    state = nextLocationState(p, state, result(status));
    states.push(state);
  }
  return states;
}

describe("evaluation", () => {
  it("changes a location's state only after fail_after bad results in a row", async () => {
    const p = await probe("    fail_after: 3\n    recover_after: 2");
    assert.deepEqual(feed(p, ["failed", "failed", "failed"]).map((s) => s.state), ["up", "up", "down"]);
    assert.deepEqual(feed(p, ["failed", "ok", "failed", "failed"]).map((s) => s.state), ["up", "up", "up", "up"]);
  });

  it("recovers after recover_after good results in a row", async () => {
    const p = await probe("    fail_after: 1\n    recover_after: 2");
    const states = feed(p, ["failed", "ok", "failed", "ok", "ok"]);
    assert.deepEqual(states.map((s) => s.state), ["down", "down", "down", "down", "up"]);
    assert.equal(states.at(-1)!.since, states.at(-1)!.last_result_at);
  });

  it("tells degraded from down", async () => {
    const p = await probe("    fail_after: 1");
    assert.deepEqual(feed(p, ["degraded", "failed"]).map((s) => s.state), ["degraded", "down"]);
  });

  it("needs a quorum of locations (a majority by default)", async () => {
    const p = await probe();
    assert.equal(p.quorum, 2);
    const down: ProbeLocationState = { state: "down", streak: 0, streak_state: "down", last_result_id: "x", last_result_at: "", since: "" };
    const up: ProbeLocationState = { ...down, state: "up", streak_state: "up" };
    assert.equal(probeState(p, new Map([["eu", down]])), "up");
    assert.equal(probeState(p, new Map([["eu", down], ["us", up]])), "up");
    assert.equal(probeState(p, new Map([["eu", down], ["us", down]])), "down");
    assert.equal(probeState(p, new Map([["eu", down], ["us", { ...down, state: "degraded" }]])), "degraded");
  });

  it("maps a probe's state to its components' status by its impact", async () => {
    const p = await probe("    impact: partial_outage");
    assert.equal(componentStatusFor(p, "down"), "partial_outage");
    assert.equal(componentStatusFor(p, "degraded"), "degraded_performance");
    assert.equal(componentStatusFor(p, "up"), "operational");
  });
});
