import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { onCallText, publicIncident, publicText, type Incident, type IncidentUpdate } from "../../src/status/index.ts";
import { configFrom, problemsOf } from "../helpers/config.ts";

const BASE = `
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway }
  - { id: chat, name: Chat, wording: { major_outage: "Messages in chat are not being delivered." } }
  - { id: qa, name: Q&A }
`;

describe("public wording of automatic incidents", () => {
  it("says which components are affected and how, in plain words, from the defaults", async () => {
    const config = await configFrom(BASE);
    assert.equal(
      publicText(config, "investigating", [{ id: "realtime-gateway", status: "major_outage", effect: "New connections to {name} are failing." }]),
      "New connections to Realtime gateway are failing. We are investigating.",
    );
    assert.equal(publicText(config, "investigating", [{ id: "qa", status: "degraded_performance" }]), "Q&A is slower than usual. We are investigating.", "without a probe's effect, the status says it");
    assert.equal(
      publicText(config, "monitoring", [{ id: "realtime-gateway", status: "operational" }, { id: "qa", status: "operational" }]),
      "Realtime gateway and Q&A are working normally again. We are watching closely to make sure it stays that way.",
      "agrees in number",
    );
    assert.equal(publicText(config, "identified", [{ id: "qa", status: "partial_outage" }]), "We have found the cause of the problem with Q&A and are fixing it.");
  });

  it("a component's own wording wins over its probe's, and the page's over the default", async () => {
    const config = await configFrom(`${BASE}
wording:
  investigating: "{effects} Our team is on it; next update within 30 minutes."
  resolved: "All clear: {components} {is} back to normal."
`);
    assert.equal(
      publicText(config, "investigating", [
        { id: "chat", status: "major_outage", effect: "New connections to {name} are failing." },
        { id: "qa", status: "major_outage" },
      ]),
      "Messages in chat are not being delivered. Q&A is not working. Our team is on it; next update within 30 minutes.",
    );
    assert.equal(publicText(config, "resolved", [{ id: "chat", status: "operational" }]), "All clear: Chat is back to normal.");
  });

  it("refuses a template with an unknown or unclosed placeholder, naming it and the near one", async () => {
    const problems = await problemsOf(`${BASE}
wording:
  investigating: "{efects} We are investigating."
  monitoring: "{components is fine"
`);
    assert.deepEqual(problems, [
      'wording.investigating: {efects} is not a placeholder here (did you mean "effects"?); use {components}, {effects}, {is}, {has}, {page}',
      'wording.monitoring: "{components is fine" is not closed: write placeholders like {components}',
    ]);
    const perComponent = await problemsOf(`locations: [{ id: local }]
components: [{ id: chat, name: Chat, wording: { major_outage: "{components} is down", investgating: "x" } }]`);
    assert.equal(perComponent.length, 2, perComponent.join("\n"));
    assert.ok(perComponent.some((p) => /components\[0\]\.wording.*investgating.*did you mean "investigating"/.test(p)), perComponent.join("\n"));
    assert.ok(perComponent.includes("components[0].wording.major_outage: {components} is not a placeholder here; use {name}, {page}"), perComponent.join("\n"));
  });
});

describe("the public view of an incident", () => {
  const update = (status: IncidentUpdate["status"], body: string, extra: Partial<IncidentUpdate> = {}): IncidentUpdate => ({
    id: `u${Math.random()}`,
    status,
    body,
    created_at: extra.created_at ?? "2026-12-02T10:00:00.000Z",
    display_at: "2026-12-02T10:00:00.000Z",
    affected_components: [],
    author: { kind: "automatic", name: "Pulseboard" },
    ...extra,
  });
  const incident = (updates: IncidentUpdate[]): Incident => ({
    id: "i1",
    name: "Major outage of Chat",
    status: "monitoring",
    impact: "critical",
    automatic: true,
    created_at: "2026-12-02T10:00:00.000Z",
    updated_at: "2026-12-02T10:09:00.000Z",
    started_at: "2026-12-02T10:00:00.000Z",
    monitoring_at: null,
    resolved_at: null,
    components: { chat: "operational", qa: "operational" },
    updates,
    postmortem: null,
    revision: 3,
  });

  it("leaves out on-call-only entries and every detail, carrying their component changes to the next public entry", () => {
    const shown = publicIncident(
      incident([
        update("investigating", "Chat is not working. We are investigating.", { detail: "node-0 (127.0.0.1:4301) refused", affected_components: [{ code: "chat", name: "Chat", old_status: "operational", new_status: "major_outage" }] }),
        update("investigating", "Chat: partial outage. chat-echo failed from eu", { internal: true, affected_components: [{ code: "chat", name: "Chat", old_status: "major_outage", new_status: "partial_outage" }] }),
        update("investigating", "Q&A is down too", { internal: true, affected_components: [{ code: "qa", name: "Q&A", old_status: "operational", new_status: "major_outage" }] }),
        update("monitoring", "Chat and Q&A are working normally again.", {
          detail: "verify gateway-connect passed",
          created_at: "2026-12-02T10:05:00.000Z",
          affected_components: [
            { code: "chat", name: "Chat", old_status: "partial_outage", new_status: "operational" },
            { code: "qa", name: "Q&A", old_status: "major_outage", new_status: "operational" },
          ],
        }),
        update("monitoring", "restart step 2 of 2 took 3 s", { internal: true, created_at: "2026-12-02T10:09:00.000Z" }),
      ]),
    );
    assert.deepEqual(shown.updates.map((u) => u.body), ["Chat is not working. We are investigating.", "Chat and Q&A are working normally again."]);
    assert.ok(shown.updates.every((u) => !("detail" in u) && !("internal" in u)));
    assert.deepEqual(
      shown.updates[1]!.affected_components.map((a) => `${a.code}: ${a.old_status} → ${a.new_status}`),
      ["chat: major_outage → operational"],
      "chat's chain reads major → operational; qa went down and back between public entries, so it shows no change",
    );
    assert.equal(shown.updated_at, "2026-12-02T10:05:00.000Z", "an on-call-only entry does not move the public updated_at");
  });

  it("on-call reads the detail, and what the page says beside it", () => {
    assert.equal(onCallText(update("investigating", "Chat is not working.", { detail: "node-0 refused" })), "node-0 refused\n\nOn the status page: Chat is not working.");
    assert.equal(onCallText(update("investigating", "chat-echo failed", { internal: true })), "chat-echo failed");
    assert.equal(onCallText(update("investigating", "A person wrote this.")), "A person wrote this.");
  });
});
