import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { deliver, HttpReceiver, incidentStory } from "../helpers/receivers.ts";

interface CardElement {
  type: string;
  text?: string;
  color?: string;
  facts?: { title: string; value: string }[];
}
interface TeamsMessage {
  type: string;
  attachments: {
    contentType: string;
    contentUrl: null;
    content: { type: string; version: string; body: CardElement[]; actions: { type: string; title: string; url: string }[] };
  }[];
}

describe("notification channel kind teams (Workflows webhook, real HTTP receiver)", () => {
  let receiver: HttpReceiver;
  const SIG = "pulseTeamsSigR2d2C3poBb8YwKkLmNn0pQrStUvWxYz";
  const settings = () => ({ url: receiver.url(`/workflows/4f1c/triggers/manual/paths/invoke?api-version=1&sig=${SIG}`) });
  const message = () => receiver.requests.at(-1)!.json as TeamsMessage;

  before(async () => {
    // Workflows answers 202 Accepted with an empty body.
    receiver = await HttpReceiver.start({ status: 202, body: "" });
  });
  after(async () => {
    await receiver.stop();
  });

  it("posts a message with one Adaptive Card attachment (1.4): name, facts, the update and a button to the incident", async () => {
    const story = incidentStory();
    const { outcome } = await deliver("teams", story.opened, settings());
    assert.deepEqual(outcome, { ok: true, status: 202 });
    const msg = message();
    assert.equal(msg.type, "message");
    assert.equal(msg.attachments.length, 1);
    const [attachment] = msg.attachments;
    assert.equal(attachment!.contentType, "application/vnd.microsoft.card.adaptive");
    assert.equal(attachment!.contentUrl, null);
    const card = attachment!.content;
    assert.equal(card.type, "AdaptiveCard");
    assert.ok(Number(card.version) >= 1.4, `version ${card.version}`);
    assert.deepEqual(card.body.map((e) => e.type), ["TextBlock", "TextBlock", "FactSet", "TextBlock"]);
    assert.equal(card.body[1]!.text, "Major outage of Chat");
    assert.equal(card.body[1]!.color, "Attention");
    assert.deepEqual(card.body[2]!.facts, [
      { title: "Status", value: "Investigating" },
      { title: "Impact", value: "Critical" },
      { title: "Affected", value: "Chat: Major outage (was Operational)" },
      { title: "Posted", value: "2025-06-01 14:00 UTC by Pulseboard (automatic)" },
    ]);
    assert.equal(card.body[3]!.text, story.opened.update.body);
    assert.deepEqual(card.actions, [{ type: "Action.OpenUrl", title: "View incident", url: story.opened.incident_url }]);
  });

  it("colours the name green once resolved, amber for minor impact", async () => {
    await deliver("teams", incidentStory().resolved, settings());
    assert.equal(message().attachments[0]!.content.body[1]!.color, "Good");
    await deliver("teams", incidentStory({ impact: "minor" }).opened, settings());
    assert.equal(message().attachments[0]!.content.body[1]!.color, "Warning");
  });

  it("does not retry a refused card, quoting the workflow's error code", async () => {
    receiver.answer({ status: 400, body: { error: { code: "TriggerInputSchemaMismatch", message: "The input body for trigger 'manual' of type 'Request' did not match its schema definition." } } });
    const { outcome } = await deliver("teams", incidentStory().opened, settings());
    assert.ok(!outcome.ok && !outcome.retry && outcome.status === 400, JSON.stringify(outcome));
    assert.ok(!outcome.ok && outcome.reason.startsWith(`Teams workflow at 127.0.0.1:${receiver.port} answered HTTP 400: TriggerInputSchemaMismatch: The input body`), !outcome.ok ? outcome.reason : "");
  });

  it("does not retry a 401 or 404 (a revoked signature, a deleted workflow), retries 429 and 5xx", async () => {
    for (const status of [401, 404]) {
      receiver.answer({ status, body: { error: { code: "DirectApiAuthorizationRequired", message: "no" } } });
      const { outcome } = await deliver("teams", incidentStory().opened, settings());
      assert.ok(!outcome.ok && !outcome.retry, `${status}`);
    }
    receiver.answer({ status: 429, body: "", headers: { "retry-after": "12" } });
    const limited = await deliver("teams", incidentStory().opened, settings());
    assert.ok(!limited.outcome.ok && limited.outcome.retry && limited.outcome.retryAfterMs === 12_000);
    receiver.answer({ status: 502, body: "" });
    const broken = await deliver("teams", incidentStory().opened, settings());
    assert.ok(!broken.outcome.ok && broken.outcome.retry);
  });

  it("never shows the URL's sig in a reason, even when the workflow echoes the request", async () => {
    receiver.answer({ status: 400, echo: true });
    const { outcome, logged } = await deliver("teams", incidentStory().opened, settings());
    assert.ok(!outcome.ok && !outcome.reason.includes(SIG), !outcome.ok ? outcome.reason : "");
    assert.ok(!logged.includes(SIG));
  });
});
