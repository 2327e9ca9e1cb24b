import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { deliver, HttpReceiver, incidentStory } from "../helpers/receivers.ts";

interface Embed {
  title: string;
  url: string;
  description?: string;
  color: number;
  fields: { name: string; value: string; inline: boolean }[];
  timestamp: string;
  footer: { text: string };
}
interface DiscordMessage {
  username: string;
  embeds: Embed[];
  allowed_mentions: { parse: string[] };
}

const embedLength = (e: Embed) => e.title.length + (e.description?.length ?? 0) + e.footer.text.length + e.fields.reduce((n, f) => n + f.name.length + f.value.length, 0);

describe("notification channel kind discord (webhook, real HTTP receiver)", () => {
  let receiver: HttpReceiver;
  const TOKEN = "pulseDiscordTokenZx81Yw72Vu63Ts54Rq45Po36Nm27Lk18Ji09Hg_-Ff0Ee1Dd2Cc3";
  const settings = (extra: Record<string, unknown> = {}) => ({ url: receiver.url(`/api/webhooks/123456789012345678/${TOKEN}`), ...extra });
  const message = () => receiver.requests.at(-1)!.json as DiscordMessage;

  before(async () => {
    // Discord answers 204 No Content unless ?wait=true.
    receiver = await HttpReceiver.start({ status: 204, body: "" });
  });
  after(async () => {
    await receiver.stop();
  });

  it("posts one embed: title linking to the incident, the update, colour by impact, fields and timestamp, mentions off", async () => {
    const story = incidentStory();
    const { outcome } = await deliver("discord", story.opened, settings());
    assert.deepEqual(outcome, { ok: true, status: 204 });
    const msg = message();
    assert.equal(msg.username, "Lumen Live Status");
    assert.deepEqual(msg.allowed_mentions, { parse: [] });
    const [embed] = msg.embeds;
    assert.equal(embed!.title, "Major outage of Chat — Investigating");
    assert.equal(embed!.url, story.opened.incident_url);
    assert.equal(embed!.description, story.opened.update.body);
    assert.equal(embed!.color, 0xe74c3c);
    assert.equal(embed!.timestamp, story.opened.update.display_at);
    assert.deepEqual(embed!.fields.map((f) => [f.name, f.value]), [
      ["Status", "Investigating"],
      ["Impact", "Critical"],
      ["Affected components", "Chat: Major outage (was Operational)"],
    ]);
  });

  it("turns green once resolved, and posts under a configured name", async () => {
    await deliver("discord", incidentStory().resolved, settings({ username: "Status bot" }));
    assert.equal(message().embeds[0]!.color, 0x2ecc71);
    assert.equal(message().username, "Status bot");
  });

  it("keeps the embed within Discord's limits (4096 description, 6000 in all)", async () => {
    await deliver("discord", incidentStory({ name: "N".repeat(400), body: "b".repeat(10_000) }).opened, settings());
    const [embed] = message().embeds;
    assert.ok(embed!.title.length <= 256);
    assert.ok((embed!.description ?? "").length <= 4096);
    assert.ok(embedLength(embed!) <= 6000, `embed length ${embedLength(embed!)}`);
  });

  it("retries a 429 after the body's retry_after (seconds, fractional), which wins over Retry-After", async () => {
    receiver.answer({ status: 429, body: { message: "You are being rate limited.", retry_after: 1.5, global: false }, headers: { "retry-after": "2" } });
    const fromBody = await deliver("discord", incidentStory().opened, settings());
    assert.ok(!fromBody.outcome.ok && fromBody.outcome.retry && fromBody.outcome.retryAfterMs === 1_500, JSON.stringify(fromBody.outcome));
    receiver.answer({ status: 429, body: "", headers: { "retry-after": "2" } });
    const fromHeader = await deliver("discord", incidentStory().opened, settings());
    assert.ok(!fromHeader.outcome.ok && fromHeader.outcome.retry && fromHeader.outcome.retryAfterMs === 2_000, JSON.stringify(fromHeader.outcome));
  });

  it("does not retry a deleted webhook (404 Unknown Webhook), quoting Discord's message and code", async () => {
    receiver.answer({ status: 404, body: { message: "Unknown Webhook", code: 10015 } });
    const { outcome } = await deliver("discord", incidentStory().opened, settings());
    assert.deepEqual(outcome, { ok: false, retry: false, status: 404, reason: `Discord at 127.0.0.1:${receiver.port} answered HTTP 404: Unknown Webhook (code 10015)` });
  });

  it("never shows the webhook token in a reason or log line", async () => {
    receiver.answer({ status: 400, echo: true });
    const { outcome, logged } = await deliver("discord", incidentStory().opened, settings());
    assert.ok(!outcome.ok && !outcome.reason.includes(TOKEN));
    assert.ok(!logged.includes(TOKEN));
  });
});
