import assert from "node:assert/strict";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { notifiers } from "../../src/notify/index.ts";
import { deliver, HttpReceiver, incidentStory, type RecordedRequest } from "../helpers/receivers.ts";

/**
 * Standard Webhooks verification written from the spec, independent of the
 * sender: HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<raw body>" with
 * the base64-decoded part of the whsec_ secret, compared in constant time
 * with each "v1,<base64>" entry of the space-separated header.
 */
function verifies(req: RecordedRequest, secret: string): boolean {
  const id = req.headers["webhook-id"];
  const timestamp = req.headers["webhook-timestamp"];
  const header = req.headers["webhook-signature"];
  if (typeof id !== "string" || typeof timestamp !== "string" || typeof header !== "string") return false;
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const expected = createHmac("sha256", key).update(`${id}.${timestamp}.${req.raw}`).digest();
  return header.split(" ").some((entry) => {
    const [version, signature] = entry.split(",");
    const given = Buffer.from(signature ?? "", "base64");
    return version === "v1" && given.length === expected.length && timingSafeEqual(given, expected);
  });
}

const newSecret = () => `whsec_${randomBytes(32).toString("base64")}`;

describe("notification channel kind webhook (Standard Webhooks, real HTTP receiver)", () => {
  let receiver: HttpReceiver;
  const story = incidentStory();
  const secret = newSecret();

  before(async () => {
    receiver = await HttpReceiver.start({ status: 204, body: "" });
  });
  after(async () => {
    await receiver.stop();
  });

  const last = () => receiver.requests.at(-1)!;

  it("signs a delivery so an independent verifier accepts it, and rejects it with another key or a changed body", async () => {
    const { outcome } = await deliver("webhook", story.opened, { url: receiver.url("/hook"), secret });
    assert.deepEqual(outcome, { ok: true, status: 204 });
    const req = last();
    assert.equal(req.method, "POST");
    assert.equal(req.headers["content-type"], "application/json");
    assert.equal(req.headers["webhook-id"], story.opened.id);
    assert.match(String(req.headers["webhook-timestamp"]), /^\d+$/);
    assert.ok(Math.abs(Number(req.headers["webhook-timestamp"]) - Date.now() / 1000) < 5, "the timestamp is this attempt's, in unix seconds");
    assert.match(String(req.headers["webhook-signature"]), /^v1,[A-Za-z0-9+/]{43}=$/);
    assert.ok(verifies(req, secret), "verifies with the channel's secret");
    assert.ok(!verifies(req, newSecret()), "does not verify with another secret");
    assert.ok(!verifies({ ...req, raw: req.raw.replace("Major outage", "Minor outage") }, secret), "does not verify a changed body");
  });

  it("signs with every secret during a rotation, and each signature verifies on its own", async () => {
    const current = newSecret();
    const previous = newSecret();
    await deliver("webhook", story.updated, { url: receiver.url("/hook"), secrets: [current, previous] });
    const req = last();
    const entries = String(req.headers["webhook-signature"]).split(" ");
    assert.equal(entries.length, 2);
    assert.ok(verifies({ ...req, headers: { ...req.headers, "webhook-signature": entries[0] } }, current), "the first signature is the current secret's");
    assert.ok(verifies({ ...req, headers: { ...req.headers, "webhook-signature": entries[1] } }, previous), "the second is the previous secret's");
    assert.ok(verifies(req, previous), "a receiver still on the previous secret accepts the delivery");
  });

  it("sends unsigned deliveries, still with webhook-id and webhook-timestamp, when no secret is set", async () => {
    await deliver("webhook", story.opened, { url: receiver.url("/hook") });
    const req = last();
    assert.equal(req.headers["webhook-signature"], undefined);
    assert.equal(req.headers["webhook-id"], story.opened.id);
    assert.match(String(req.headers["webhook-timestamp"]), /^\d+$/);
  });

  it("keeps webhook-id across retries of one event, so receivers can process it once", async () => {
    receiver.answer({ status: 503 });
    const first = await deliver("webhook", story.resolved, { url: receiver.url("/hook"), secret });
    assert.ok(!first.outcome.ok && first.outcome.retry);
    await deliver("webhook", story.resolved, { url: receiver.url("/hook"), secret });
    const [a, b] = receiver.requests.slice(-2);
    assert.equal(a!.headers["webhook-id"], b!.headers["webhook-id"]);
    assert.ok(verifies(b!, secret));
  });

  it("posts the documented document: type, id, timestamp and data (page, trimmed incident, update, link, urgency)", async () => {
    await deliver("webhook", story.updated, { url: receiver.url("/hook") });
    const e = story.updated;
    const i = e.incident;
    assert.deepEqual(last().json, {
      type: "incident.updated",
      id: e.id,
      timestamp: e.occurred_at,
      data: {
        page: e.page,
        incident: {
          id: i.id,
          name: i.name,
          status: "identified",
          impact: "critical",
          automatic: true,
          created_at: i.created_at,
          updated_at: i.updated_at,
          started_at: i.started_at,
          monitoring_at: null,
          resolved_at: null,
          components: { chat: "major_outage" },
          postmortem: null,
        },
        update: e.update,
        incident_url: e.incident_url,
        urgency: "high",
      },
    });
  });

  it("sends extra headers, and refuses to let config override the ones it sets", async () => {
    await deliver("webhook", story.opened, { url: receiver.url("/hook"), headers: { authorization: "Bearer t0ken", "x-team": "sre" } });
    assert.equal(last().headers.authorization, "Bearer t0ken");
    assert.equal(last().headers["x-team"], "sre");
    const refused = notifiers.webhook.configSchema.safeParse({ url: receiver.url("/hook"), headers: { "Webhook-Signature": "v1,forged" } });
    assert.equal(refused.success, false);
    assert.match(refused.error!.issues[0]!.message, /set by Pulseboard/);
  });

  it("disables the channel on 410 Gone, without retrying", async () => {
    receiver.answer({ status: 410, body: "endpoint removed" });
    const { outcome } = await deliver("webhook", story.opened, { url: receiver.url("/hook"), secret });
    assert.deepEqual(outcome, { ok: false, retry: false, disable: true, status: 410, reason: `Webhook at 127.0.0.1:${receiver.port} answered HTTP 410: endpoint removed (the receiver asked to stop sending)` });
  });

  it("retries 429 after Retry-After (seconds or an HTTP date)", async () => {
    receiver.answer({ status: 429, headers: { "retry-after": "2" } });
    const seconds = await deliver("webhook", story.opened, { url: receiver.url("/hook") });
    assert.ok(!seconds.outcome.ok && seconds.outcome.retry);
    assert.equal(!seconds.outcome.ok && seconds.outcome.retryAfterMs, 2_000);
    receiver.answer({ status: 503, headers: { "retry-after": new Date(Date.now() + 60_000).toUTCString() } });
    const date = await deliver("webhook", story.opened, { url: receiver.url("/hook") });
    const ms = !date.outcome.ok ? date.outcome.retryAfterMs ?? 0 : 0;
    assert.ok(ms > 55_000 && ms <= 60_000, `retryAfterMs ${ms}`);
  });

  it("neither follows nor retries a redirect, and says what to change", async () => {
    const before = receiver.requests.length;
    receiver.answer({ status: 301, headers: { location: receiver.url("/elsewhere") } });
    const { outcome } = await deliver("webhook", story.opened, { url: receiver.url("/hook") });
    assert.ok(!outcome.ok && !outcome.retry && /redirect.*set the channel's url/.test(outcome.reason), JSON.stringify(outcome));
    assert.equal(receiver.requests.length, before + 1, "the redirect was not followed");
  });

  it("reads only the start of a huge error answer", async () => {
    receiver.answer({ status: 500, body: `upstream exploded ${"x".repeat(2_000_000)}` });
    const { outcome } = await deliver("webhook", story.opened, { url: receiver.url("/hook") });
    assert.ok(!outcome.ok && outcome.retry);
    assert.ok(!outcome.ok && outcome.reason.length < 400 && outcome.reason.includes("upstream exploded"), !outcome.ok ? outcome.reason : "");
  });

  it("explains bad secrets without quoting them, and refuses secret and secrets together", () => {
    const short = `whsec_${Buffer.from("too short").toString("base64")}`;
    for (const bad of [short, "not-a-whsec-secret", "whsec_***"]) {
      const result = notifiers.webhook.configSchema.safeParse({ url: receiver.url("/hook"), secret: bad });
      assert.equal(result.success, false, bad);
      const message = result.error!.issues.map((i) => i.message).join("; ");
      assert.match(message, /Standard Webhooks secret: "whsec_" then 24 to 64 random bytes in base64/);
      assert.ok(!message.includes(bad), "the message does not quote the secret");
    }
    const both = notifiers.webhook.configSchema.safeParse({ url: receiver.url("/hook"), secret, secrets: [secret] });
    assert.equal(both.success, false);
    assert.match(both.error!.issues[0]!.message, /"secret" or "secrets", not both/);
  });
});
