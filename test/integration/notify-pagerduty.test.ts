import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { notifiers, PAGERDUTY_EVENTS_URL } from "../../src/notify/index.ts";
import { deliver, HttpReceiver, incidentStory } from "../helpers/receivers.ts";

const ROUTING_KEY = "R0uTiNgKeYpUlSeBoArD0123456789ab";

interface Alert {
  routing_key: string;
  event_action: string;
  dedup_key: string;
  client: string;
  client_url: string;
  payload: { summary: string; source: string; severity: string; timestamp: string; component: string; custom_details: Record<string, unknown> };
  links: { href: string; text: string }[];
}

describe("notification channel kind pagerduty (Events API v2, real HTTP receiver)", () => {
  let receiver: HttpReceiver;
  const settings = () => ({ url: receiver.url("/v2/enqueue"), routing_key: ROUTING_KEY });
  const alerts = () => receiver.requests.map((r) => r.json as Alert);

  before(async () => {
    receiver = await HttpReceiver.start({ status: 202, body: { status: "success", message: "Event processed", dedup_key: "x" } });
  });
  after(async () => {
    await receiver.stop();
  });

  it("keeps one alert per incident: the same dedup_key for trigger, update and resolve, another for another incident", async () => {
    const chat = incidentStory({ id: "incchat00001" });
    const presence = incidentStory({ id: "incpres00002", name: "Presence degraded", impact: "minor" });
    const before = receiver.requests.length;
    for (const event of [chat.opened, chat.updated, presence.opened, chat.resolved]) {
      const { outcome } = await deliver("pagerduty", event, settings());
      assert.deepEqual(outcome, { ok: true, status: 202 });
    }
    const [opened, updated, other, resolved] = alerts().slice(before);
    assert.deepEqual([opened!.event_action, updated!.event_action, other!.event_action, resolved!.event_action], ["trigger", "trigger", "trigger", "resolve"]);
    assert.equal(opened!.dedup_key, "pulseboard-incchat00001");
    assert.equal(updated!.dedup_key, opened!.dedup_key);
    assert.equal(resolved!.dedup_key, opened!.dedup_key);
    assert.equal(other!.dedup_key, "pulseboard-incpres00002");
    assert.equal(opened!.routing_key, ROUTING_KEY);
  });

  it("fills the alert: summary, source, timestamp, component, details and a link to the incident", async () => {
    const story = incidentStory();
    await deliver("pagerduty", story.opened, settings());
    const alert = alerts().at(-1)!;
    assert.equal(alert.payload.summary, "[Critical] Major outage of Chat — Investigating");
    assert.equal(alert.payload.source, "status.lumen.example");
    assert.equal(alert.payload.timestamp, story.opened.update.display_at);
    assert.equal(alert.payload.component, "Chat");
    assert.equal(alert.payload.custom_details.update, story.opened.update.body);
    assert.deepEqual(alert.links, [{ href: story.opened.incident_url, text: "Incident on the status page" }]);
    assert.equal(alert.client_url, story.opened.page.url);
  });

  it("maps impact to severity: critical→critical, major→error, minor→warning, none→info", async () => {
    const seen: Record<string, string> = {};
    for (const impact of ["critical", "major", "minor", "none"] as const) {
      await deliver("pagerduty", incidentStory({ id: `sev${impact}`, impact }).opened, settings());
      seen[impact] = alerts().at(-1)!.payload.severity;
    }
    assert.deepEqual(seen, { critical: "critical", major: "error", minor: "warning", none: "info" });
  });

  it("resolves, never re-triggers, on a postmortem posted after resolution", async () => {
    const story = incidentStory();
    const postmortem = { ...story.resolved, id: "evtpostmortem1", type: "incident.updated" as const, update: { ...story.resolved.update, id: "u-pm", status: "postmortem" as const, body: "Postmortem published." } };
    await deliver("pagerduty", postmortem, settings());
    assert.equal(alerts().at(-1)!.event_action, "resolve");
  });

  it("keeps the summary within PagerDuty's 1024 characters", async () => {
    await deliver("pagerduty", incidentStory({ name: "Chat ".repeat(400) }).opened, settings());
    assert.ok(alerts().at(-1)!.payload.summary.length <= 1024);
  });

  it("does not retry a 400, and quotes PagerDuty's explanation", async () => {
    receiver.answer({ status: 400, body: { status: "invalid event", message: "Event object is invalid", errors: ["'payload.severity' is invalid"] } });
    const { outcome } = await deliver("pagerduty", incidentStory().opened, settings());
    assert.deepEqual(outcome, {
      ok: false,
      retry: false,
      status: 400,
      reason: `PagerDuty at 127.0.0.1:${receiver.port} answered HTTP 400: Event object is invalid; 'payload.severity' is invalid`,
    });
  });

  it("retries a 429, after Retry-After when PagerDuty sends one", async () => {
    receiver.answer({ status: 429, body: "", headers: { "retry-after": "30" } });
    const withHeader = await deliver("pagerduty", incidentStory().opened, settings());
    assert.ok(!withHeader.outcome.ok && withHeader.outcome.retry && withHeader.outcome.retryAfterMs === 30_000, JSON.stringify(withHeader.outcome));
    receiver.answer({ status: 429, body: "" });
    const without = await deliver("pagerduty", incidentStory().opened, settings());
    assert.ok(!without.outcome.ok && without.outcome.retry && without.outcome.retryAfterMs === undefined, JSON.stringify(without.outcome));
  });

  it("retries a 5xx", async () => {
    receiver.answer({ status: 502, body: "bad gateway" });
    const { outcome } = await deliver("pagerduty", incidentStory().opened, settings());
    assert.ok(!outcome.ok && outcome.retry && outcome.status === 502);
  });

  it("defaults to the public Events API v2 endpoint and checks the routing key's length", () => {
    const parsed = notifiers.pagerduty.configSchema.parse({ routing_key: ROUTING_KEY }) as { url: string };
    assert.equal(parsed.url, PAGERDUTY_EVENTS_URL);
    const short = notifiers.pagerduty.configSchema.safeParse({ routing_key: "abc" });
    assert.equal(short.success, false);
    assert.match(short.error!.issues[0]!.message, /32-character Integration Key of an Events API v2 integration/);
  });
});
