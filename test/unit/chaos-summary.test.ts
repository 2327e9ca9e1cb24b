import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { formatSummary, incidentEvents, repairedBy, runsDuring, type ChaosSummary } from "../../src/chaos/index.ts";

const FAULT = Date.parse("2026-12-02T12:00:00.000Z");
const at = (s: number) => new Date(FAULT + s * 1000).toISOString();

function summary(overrides: Partial<ChaosSummary>): ChaosSummary {
  return {
    scenario: "safeguard-lockup",
    did: "locked the connection safeguard on node-0; the node was not restarted",
    fault_started_at: at(0),
    fault_s: 60,
    detected_s: 7.5,
    recovered_s: 108.1,
    recovered_by: [],
    recovered_without_playbook: true,
    worst: { "Realtime gateway": "major_outage" },
    timeline: [],
    page_reads: 10,
    page_availability: 1,
    incidents: [],
    playbook_runs: [],
    held_runs: [],
    interrupted: false,
    ...overrides,
  };
}

describe("the chaos summary", () => {
  it("counts an incident opened before the fault that the fault reopened from monitoring as relapsed, one still investigating as updated", () => {
    const events = incidentEvents(
      [
        {
          id: "relapsed",
          name: "Major outage of Realtime gateway",
          created_at: at(-11),
          updates: [
            { status: "monitoring", created_at: at(-10) },
            { status: "identified", created_at: at(-10.1) },
            { status: "investigating", created_at: at(-11) },
            { status: "investigating", created_at: at(7.3) },
            { status: "investigating", created_at: at(14) },
          ],
        },
        { id: "updated", name: "Partial outage of Chat", created_at: at(-30), updates: [{ status: "investigating", created_at: at(-30) }, { status: "investigating", created_at: at(20) }] },
        { id: "resolved", name: "Old one", created_at: at(-300), updates: [{ status: "monitoring", created_at: at(-290) }, { status: "resolved", created_at: at(2) }] },
        { id: "untouched", name: "Quiet one", created_at: at(-100), updates: [{ status: "investigating", created_at: at(-100) }] },
        { id: "opened", name: "Major outage of Cache", created_at: at(3), updates: [{ status: "investigating", created_at: at(3) }] },
      ],
      FAULT,
    );
    assert.deepEqual(events, [
      { id: "opened", name: "Major outage of Cache", event: "opened", opened_s: 3, at_s: 3 },
      { id: "relapsed", name: "Major outage of Realtime gateway", event: "relapsed", opened_s: -11, at_s: 7.3 },
      { id: "updated", name: "Partial outage of Chat", event: "updated", opened_s: -30, at_s: 20 },
    ]);
  });

  it("lists only runs started during the chaos run, and credits the repair only to a recovery that succeeded while the fault held", () => {
    const runs = runsDuring(
      [
        { playbook: "restart", kind: "recovery", state: "succeeded", outcome: "Every step succeeded in 909 ms.", created_at: at(-20), ended_at: at(-19), trigger: { at: at(-20) } },
        { playbook: "restart", kind: "recovery", state: "succeeded", outcome: "Every step succeeded in 1.0 s.", created_at: at(61), ended_at: at(62), trigger: { at: at(61) } },
      ],
      FAULT,
    );
    assert.deepEqual(runs, [{ playbook: "restart", kind: "recovery", state: "succeeded", outcome: "Every step succeeded in 1.0 s.", started_s: 61, ended_s: 62 }], "the run from before the fault is not this one's");
    assert.deepEqual(repairedBy(runs, 60), [], "it ended after the fault had ended by itself");
    assert.deepEqual(repairedBy(runs, 70), ["restart"]);
    assert.deepEqual(repairedBy([{ ...runs[0]!, kind: "restore" }], 70), [], "a restore repairs nothing");
  });

  it("says a guard held a run back (which, until when, for which incident), the relapse, and that it recovered without a playbook", () => {
    const text = formatSummary(
      summary({
        incidents: [{ id: "6dm5aisbkr8d", name: "Major outage of Realtime gateway", event: "relapsed", opened_s: -11.3, at_s: 7.3 }],
        held_runs: [{ playbook: "restart-stuck-gateway-node", kind: "recovery", guard: "cooldown", reason: "…", until: "2026-12-02T12:04:31.576Z", incident: "6dm5aisbkr8d", at_s: 7.4 }],
      }),
    );
    assert.match(text, /held back +playbook restart-stuck-gateway-node held back by its cooldown until 12:04:31 UTC, 7\.4 s after the fault began \(incident 6dm5aisbkr8d\)/);
    assert.match(text, /incidents +Major outage of Realtime gateway \(relapsed 7\.3 s after; opened 11\.3 s before the fault\)/);
    assert.match(text, /recovered +108\.1 s after the fault began; recovered without a playbook, once the fault ended \(after 60\.0 s\)/);
    assert.match(text, /playbook runs +none/);
    assert.doesNotMatch(text, /none opened|Every step succeeded/);
  });

  it("names the playbook that repaired it, and says when nothing was held back or touched", () => {
    const text = formatSummary(
      summary({
        fault_s: 16.3,
        recovered_s: 16.3,
        recovered_by: ["restart-stuck-gateway-node"],
        recovered_without_playbook: false,
        playbook_runs: [{ playbook: "restart-stuck-gateway-node", kind: "recovery", state: "succeeded", outcome: "Every step succeeded in 909 ms.", started_s: 6.1, ended_s: 7 }],
      }),
    );
    assert.match(text, /recovered +16\.3 s after the fault began, repaired by the playbook restart-stuck-gateway-node/);
    assert.match(text, /playbook runs +restart-stuck-gateway-node recovery succeeded: Every step succeeded in 909 ms\. \(started 6\.1 s after the fault began\)/);
    assert.match(text, /held back +no run held back/);
    assert.match(text, /incidents +none opened or relapsed/);
  });
});
