import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { ConfigError } from "../../src/core/index.ts";
import { playbookSteps } from "../../src/playbooks/index.ts";
import { configFrom, REPO_ROOT } from "../helpers/config.ts";

const BASE = `
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: cache, name: Cache }]
probes:
  - { id: chat-echo, kind: websocket, components: [chat] }
notifications:
  channels:
    - { id: oncall, kind: webhook, url: "http://127.0.0.1:9/hook" }
playbooks:
`;

async function problemsOf(playbooks: string): Promise<string[]> {
  try {
    await configFrom(BASE + playbooks);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the configuration to be refused");
}

describe("playbook configuration", () => {
  it("accepts the shipped playbooks, enabled, for the known failures", async () => {
    const config = await configFrom(readFileSync(path.join(REPO_ROOT, "pulseboard.yaml"), "utf8"));
    const byId = new Map(config.playbooks.map((p) => [p.id, p]));
    assert.deepEqual([...byId.keys()].sort(), ["bypass-clogged-cache", "restart-stuck-gateway-node", "scale-out-on-surge"]);
    for (const playbook of config.playbooks) assert.equal(playbook.enabled, true, `${playbook.id} is enabled`);
    assert.deepEqual(byId.get("restart-stuck-gateway-node")!.steps.map((s) => s.action), ["restart-gateway", "verify"]);
    assert.deepEqual(byId.get("bypass-clogged-cache")!.restore?.steps.map((s) => s.action), ["restore-cache", "verify"]);
    assert.equal(byId.get("bypass-clogged-cache")!.restore?.afterMs, 30_000);
    const surge = byId.get("scale-out-on-surge")!;
    assert.deepEqual(surge.trigger, { kind: "stat", stat: "connections_ratio", above: 0.8, below: undefined, forMs: 10_000 });
    assert.deepEqual(surge.steps[0], { action: "scale-out", settings: { by: 1, max: 4 } });
    assert.equal(surge.restore?.afterMs, 300_000);
  });

  it("applies defaults: auto mode, gateway target, guards, components from the trigger", async () => {
    const config = await configFrom(`${BASE}  - { id: p, trigger: { component: chat }, steps: [{ action: restore-cache }] }\n`);
    const [p] = config.playbooks;
    assert.equal(p!.mode, "auto");
    assert.equal(p!.target, "gateway");
    assert.deepEqual(p!.trigger, { kind: "component", component: "chat", status: "major_outage", forMs: 0 });
    assert.deepEqual(p!.guards, { cooldownMs: 300_000, maxRuns: 3, perMs: 3_600_000, holdInMaintenance: true, oncePerEpisode: false });
    assert.deepEqual(p!.components, ["chat"]);
    assert.deepEqual(p!.onFailure, { escalate: [], steps: [] });
    assert.equal(p!.approval.timeoutMs, 600_000);
  });

  it("names the field of every bad step setting and reference at once", async () => {
    const problems = await problemsOf(`  - id: p
    trigger: { component: chat }
    steps:
      - { action: wait }
      - { action: scale-out, max: 0 }
      - { action: verify, probes: [chat-echo, nope], within: soon }
      - { action: notify, channels: [pager], message: hi }
      - { action: restart-gateway, target: node }
      - { action: frobnicate }
      - { action: command, command: [] }
      - { action: webhook, url: "ftp://x" }
      - { action: bypass-cache, mode: now }
`);
    assert.deepEqual(problems, [
      'playbooks[0].steps[0].for: expected a duration like "30s"',
      "playbooks[0].steps[1].max: must be ≥ 1",
      'playbooks[0].steps[2].within: expected a duration like "30s", got "soon"',
      'playbooks[0].steps[3].channels[0]: no channel has the id "pager"',
      "playbooks[0].steps[4].node: name the node to restart (target: node)",
      `playbooks[0].steps[5].action: expected a step action: ${playbookSteps.kinds().join(", ")}; got "frobnicate"`,
      "playbooks[0].steps[6].command: name the program to run",
      "playbooks[0].steps[7].url: expected an HTTP URL like https://ops.example.com/hooks/recover",
      'playbooks[0].steps[8]: Unrecognized key: "mode"',
    ]);
    const references = await problemsOf(`  - { id: p, trigger: { component: chat }, steps: [{ action: verify, probes: [chat-echo, nope] }] }\n`);
    assert.deepEqual(references, ['playbooks[0].steps[0].probes[1]: no probe has the id "nope"']);
  });

  it("checks triggers: one of component, probe or stat, statuses that fit, bounds", async () => {
    const problems = await problemsOf(`  - { id: a, trigger: { component: chat, probe: chat-echo }, steps: [{ action: bypass-cache }] }
  - { id: b, trigger: { component: kitchen, status: operational }, steps: [{ action: bypass-cache }] }
  - { id: c, trigger: { probe: chat-echo, status: major_outage }, steps: [{ action: bypass-cache }] }
  - { id: d, trigger: { stat: connections_ratio, above: 1.5 }, steps: [{ action: bypass-cache }] }
  - { id: e, trigger: { stat: connections, above: 10, below: 5 }, steps: [{ action: bypass-cache }] }
  - { id: f, trigger: {}, steps: [{ action: bypass-cache }] }
`);
    assert.deepEqual(problems, [
      "playbooks[0].trigger: name exactly one of component, probe or stat (got component and probe)",
      'playbooks[1].trigger.component: no component has the id "kitchen"',
      'playbooks[1].trigger.status: expected a component status worse than operational: degraded_performance, partial_outage, major_outage; got "operational"',
      'playbooks[2].trigger.status: a probe trigger watches "down" or "degraded", got "major_outage"',
      "playbooks[3].trigger.above: connections_ratio is a share of the limit, from 0 to 1 (0.8 is 80 %)",
      "playbooks[4].trigger: a stat trigger needs exactly one bound, above or below",
      "playbooks[5].trigger: name exactly one of component, probe or stat",
    ]);
  });

  it("checks guards, channels of escalation and approval, restore and fallback steps", async () => {
    const problems = await problemsOf(`  - id: p
    mode: approve
    trigger: { component: chat, for: 10s }
    guards: { max_runs: 0, cooldown: 1m }
    steps: [{ action: bypass-cache }]
    on_failure: { escalate: [oncall, pager], steps: [{ action: scale-in, min: 0 }] }
    restore: { after: 30s, steps: [{ action: wait, for: forever }] }
    approval: { timeout: 1m, channels: [phone] }
  - { id: p, trigger: { component: cache }, steps: [{ action: restore-cache }] }
`);
    // A bad guard does not hide the references and step settings checked after the schema.
    assert.deepEqual(problems.sort(), [
      'playbooks[0].approval.channels[0]: no channel has the id "phone"',
      "playbooks[0].guards.max_runs: must be ≥ 1",
      'playbooks[0].on_failure.escalate[1]: no channel has the id "pager"',
      "playbooks[0].on_failure.steps[0].min: must be ≥ 1",
      'playbooks[0].restore.steps[0].for: expected a duration like "30s", got "forever"',
      'playbooks[1].id: "p" is already used by playbooks[0]',
    ]);
    const resolved = await problemsOf(`  - id: p
    mode: approve
    trigger: { component: chat, for: 10s }
    steps: [{ action: bypass-cache }]
    on_failure: { escalate: [oncall, pager], steps: [{ action: scale-in, min: 0 }] }
    restore: { after: 30s, steps: [{ action: wait, for: forever }] }
    approval: { timeout: 5s, channels: [phone] }
  - { id: p, trigger: { component: cache }, steps: [{ action: restore-cache }] }
`);
    assert.deepEqual(resolved.sort(), [
      'playbooks[0].approval.channels[0]: no channel has the id "phone"',
      "playbooks[0].approval.timeout: must be at least 10s, or nobody can approve in time",
      'playbooks[0].on_failure.escalate[1]: no channel has the id "pager"',
      "playbooks[0].on_failure.steps[0].min: must be ≥ 1",
      'playbooks[0].restore.steps[0].for: expected a duration like "30s", got "forever"',
      'playbooks[1].id: "p" is already used by playbooks[0]',
    ].sort());
  });

  it("refuses a playbook without steps or with an unknown mode", async () => {
    assert.deepEqual(await problemsOf(`  - { id: p, trigger: { component: chat }, steps: [] }\n`), ["playbooks[0].steps: a playbook needs at least one step"]);
    assert.deepEqual(await problemsOf(`  - { id: p, mode: yolo, trigger: { component: chat }, steps: [{ action: bypass-cache }] }\n`), ['playbooks[0].mode: expected "auto", "approve" or "dry-run"']);
  });
});
