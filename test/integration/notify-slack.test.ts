import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { deliver, HttpReceiver, incidentStory, TRICKY_BODY } from "../helpers/receivers.ts";

interface TextObject {
  type: string;
  text: string;
}
interface Block {
  type: string;
  text?: TextObject;
  fields?: TextObject[];
  elements?: TextObject[];
}
interface SlackMessage {
  text: string;
  blocks: Block[];
}

describe("notification channel kind slack (incoming webhook, real HTTP receiver)", () => {
  let receiver: HttpReceiver;
  const settings = () => ({ url: receiver.url("/services/T0PULSE01/B0PULSE02/xQ9pulseSlackTokenAb12Cd34") });
  const message = () => receiver.requests.at(-1)!.json as SlackMessage;

  before(async () => {
    receiver = await HttpReceiver.start({ status: 200, body: "ok" });
  });
  after(async () => {
    await receiver.stop();
  });

  it("posts Block Kit blocks: header, status and impact, the update, time and author, a link to the incident", async () => {
    const story = incidentStory();
    const { outcome } = await deliver("slack", story.opened, settings());
    assert.deepEqual(outcome, { ok: true, status: 200 });
    const { blocks } = message();
    assert.deepEqual(blocks.map((b) => b.type), ["header", "section", "section", "context", "section"]);
    assert.deepEqual(blocks[0]!.text, { type: "plain_text", text: "Major outage of Chat", emoji: true });
    assert.deepEqual(blocks[1]!.fields!.map((f) => f.text), ["*Status*\nInvestigating", "*Impact*\nCritical", "*Affected components*\nChat: Major outage (was Operational)"]);
    const unix = Date.parse(story.opened.update.display_at) / 1000;
    assert.equal(blocks[3]!.elements![0]!.text, `Incident opened · <!date^${unix}^{date_short_pretty} at {time}|2025-06-01 14:00 UTC> · by Pulseboard (automatic)`);
    assert.equal(blocks[4]!.text!.text, `<${story.opened.incident_url}|View the incident> on Lumen Live Status`);
  });

  it("escapes & < > in what people typed, so it cannot ping @channel or forge links, in blocks and the text fallback", async () => {
    await deliver("slack", incidentStory({ name: "Chat <down> & out" }).opened, settings());
    const escaped = "Chat messages are &lt;b&gt;not&lt;/b&gt; delivered &amp; \"retries\" pile up &gt; 5s. Ping &lt;!channel&gt; @everyone";
    const { blocks, text } = message();
    assert.equal(blocks[2]!.text!.text, escaped);
    assert.equal(text, `Incident opened: Chat &lt;down&gt; &amp; out — Investigating (critical impact): ${escaped}`);
    assert.ok(!receiver.requests.at(-1)!.raw.includes("<!channel>"), "no raw mention anywhere in the message");
    assert.ok(receiver.requests.at(-1)!.raw.includes("&lt;!channel&gt;"), "the mention the incident's text tried is in the message, escaped");
  });

  it("leaves out the update section when an update has no text (Slack refuses empty sections)", async () => {
    const story = incidentStory();
    await deliver("slack", { ...story.updated, update: { ...story.updated.update, body: "  " } }, settings());
    const { blocks } = message();
    for (const block of blocks) if (block.text) assert.ok(block.text.text.trim().length > 0, `${block.type} has text`);
    assert.equal(blocks.filter((b) => b.type === "section").length, 2);
  });

  it("keeps a long update within Slack's 3000 characters per section, escaping intact", async () => {
    await deliver("slack", incidentStory({ body: "a&b ".repeat(2_000) }).opened, settings());
    const section = message().blocks[2]!.text!.text;
    assert.ok(section.length <= 3000, `length ${section.length}`);
    assert.match(section, /^(a&amp;b )+a?(&amp;)?b?…$/);
  });

  it("does not retry Slack's refusals and explains them: 404 no_service, 400 invalid_payload", async () => {
    receiver.answer({ status: 404, body: "no_service" });
    const gone = await deliver("slack", incidentStory().opened, settings());
    assert.deepEqual(gone.outcome, {
      ok: false,
      retry: false,
      status: 404,
      reason: `Slack at 127.0.0.1:${receiver.port} answered HTTP 404: no_service (the webhook was disabled or removed: create a new incoming webhook)`,
    });
    receiver.answer({ status: 400, body: "invalid_payload" });
    const invalid = await deliver("slack", incidentStory().opened, settings());
    assert.ok(!invalid.outcome.ok && !invalid.outcome.retry && invalid.outcome.reason.includes("invalid_payload"));
  });

  it("retries 429 after Retry-After, and 5xx", async () => {
    receiver.answer({ status: 429, body: "rate_limited", headers: { "retry-after": "7" } });
    const limited = await deliver("slack", incidentStory().opened, settings());
    assert.ok(!limited.outcome.ok && limited.outcome.retry && limited.outcome.retryAfterMs === 7_000, JSON.stringify(limited.outcome));
    receiver.answer({ status: 500, body: "rollup_error" });
    const broken = await deliver("slack", incidentStory().opened, settings());
    assert.ok(!broken.outcome.ok && broken.outcome.retry);
  });

  it("never shows the webhook URL's token in a reason", async () => {
    receiver.answer({ status: 403, echo: true });
    const { outcome, logged } = await deliver("slack", incidentStory().opened, settings());
    assert.ok(!outcome.ok && !outcome.retry);
    assert.ok(!outcome.ok && !outcome.reason.includes("xQ9pulseSlackTokenAb12Cd34") && outcome.reason.includes("[redacted]"), !outcome.ok ? outcome.reason : "");
    assert.ok(!logged.includes("xQ9pulseSlackTokenAb12Cd34"));
  });
});
