import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import request from "supertest";
import type { Config } from "../../src/config/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { NotificationControl, ProbeControl, startNotifyWorker, startOutboxDispatcher } from "../../src/pipeline/index.ts";
import { appendUpdate, openIncident, publicIncident, resolveIncident, setComponentStatus, StatusStore, type Author, type StatusContext } from "../../src/status/index.ts";
import {
  QueuedConfirmations,
  SubscriberStore,
  startSubscriberDelivery,
  startSubscriberDispatcher,
  type SubscriberDeadLetter,
  type SubscriptionContext,
} from "../../src/subscriptions/index.ts";
import { AdminAuth, createWebApp, SnapshotService, StatuspageMapper, subscriptionsRouter, type WebApp } from "../../src/web/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { HttpReceiver, SmtpReceiver, type RecordedMail } from "../helpers/receivers.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Status-page subscriptions on real parts: the web app's subscription
 * routes, the status verbs writing incidents and component changes with
 * their outbox entries, the subscriber dispatcher and delivery worker on
 * BullMQ (beside the on-call ones, as src/roles/worker.ts runs them), real
 * HTTP receivers as subscriber endpoints and a real SMTP server.
 */

const TOKEN = "subscriptions-admin-token-0123456789";
const PAGE_URL = "https://status.subs.example";
const INDICATORS = ["none", "minor", "major", "critical", "maintenance"];
const COMPONENT_STATUSES = ["operational", "degraded_performance", "partial_outage", "major_outage", "under_maintenance"];
const INCIDENT_STATUSES = ["investigating", "identified", "monitoring", "resolved", "postmortem"];
const INCIDENT_FIELDS = ["id", "name", "status", "impact", "created_at", "updated_at", "monitoring_at", "resolved_at", "shortlink", "started_at", "page_id", "incident_updates", "components"];
const UPDATE_FIELDS = ["id", "status", "body", "incident_id", "created_at", "updated_at", "display_at", "affected_components"];
const person: Author = { kind: "person", name: "Ana Lima" };

interface Hook {
  meta?: { unsubscribe: string | null; documentation: string };
  page?: { id: string; status_indicator: string; status_description: string };
  incident?: { id: string; name: string; status: string; impact: string; page_id: string; shortlink: string; incident_updates: { id: string; status: string; body: string; affected_components: unknown }[]; components: { id: string }[] };
  component_update?: { created_at: string; new_status: string; old_status: string; id: string; component_id: string };
  component?: { id: string; name: string; status: string; created_at: string };
  subscription_confirmation?: { confirm_url: string; expires_at: string; components: string[] };
}

const bodies = (receiver: HttpReceiver): Hook[] => receiver.requests.map((r) => r.json as Hook);
const incidentPosts = (receiver: HttpReceiver, incident?: string) => bodies(receiver).filter((b) => b.incident && (!incident || b.incident.id === incident));
const componentPosts = (receiver: HttpReceiver, component?: string) => bodies(receiver).filter((b) => b.component_update && (!component || b.component_update.component_id === component));
const confirmations = (receiver: HttpReceiver) => bodies(receiver).filter((b) => b.subscription_confirmation);
const pathOf = (url: string) => {
  const parsed = new URL(url);
  return parsed.pathname + parsed.search;
};
const settle = (ms = 700) => new Promise((resolve) => setTimeout(resolve, ms));

describe("status-page subscriptions (real redis-server, BullMQ, HTTP and SMTP receivers)", { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;
  let config: Config;
  let current: Config;
  let status: StatusContext;
  let subscriptions: SubscriptionContext;
  let app: WebApp;
  let snapshot: SnapshotService;
  let smtp: SmtpReceiver;
  let oncall: HttpReceiver;
  const hooks: Record<"all" | "chat" | "pending" | "gone" | "flaky", HttpReceiver> = {} as never;
  const stops: (() => Promise<void>)[] = [];

  /** Subscribes an endpoint and returns the confirm URL its receiver got. */
  const subscribeWebhook = async (receiver: HttpReceiver, components?: string[]): Promise<string> => {
    const before = confirmations(receiver).length;
    const res = await request(app).post("/subscriptions").send({ type: "webhook", endpoint: receiver.url("/statuspage"), ...(components ? { components } : {}) }).expect(202);
    assert.equal(res.body.status, "pending");
    const confirmation = await waitFor("the confirmation request", () => confirmations(receiver)[before], 10_000, 25);
    return confirmation.subscription_confirmation!.confirm_url;
  };
  const confirm = async (confirmUrl: string) => (await request(app).get(pathOf(confirmUrl)).set("accept", "application/json").expect(200)).body;
  const admin = async () => (await request(app).get("/admin/api/subscribers").set("authorization", `Bearer ${TOKEN}`).expect(200)).body.subscribers as { id: string; type: string; endpoint?: string; email?: string; components: string[] }[];

  before(async () => {
    redis = await startRedis();
    smtp = await SmtpReceiver.start();
    oncall = await HttpReceiver.start({ status: 204, body: "" });
    for (const name of ["all", "chat", "pending", "gone", "flaky"] as const) hooks[name] = await HttpReceiver.start({ status: 200, body: "ok" });
    config = await configFrom(`
redis: { prefix: ${uniquePrefix("subs")} }
page: { name: "Subs <Status>", url: "${PAGE_URL}" }
locations: [{ id: local }]
components:
  - { id: chat, name: Chat, group: Realtime }
  - { id: qa, name: Q&A, group: Realtime }
  - { id: cache, name: Cache }
notifications:
  retry_base: 100ms
  retry_max: 300ms
  attempts: 10
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/oncall")}" }
subscriptions:
  confirm_ttl: 1h
  rate_limit: { requests: 1000, per: 1m }
  email:
    from: "Subs Status <status@subs.example>"
    smtp: { host: 127.0.0.1, port: ${smtp.port}, starttls: false, timeout: 5s }
`, { REDIS_URL: redis.url });
    current = config;
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    status = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    const log = testLog();
    const store = new SubscriberStore(commands, config.redis.prefix);
    const queued = new QueuedConfirmations({ config: () => current, connection: commands });
    subscriptions = { store, config: () => current, confirmations: queued };
    snapshot = SnapshotService.forStore(status, () => current, { refreshMs: 60_000, log });
    await snapshot.start();
    const probes = new ProbeControl({ config: () => current, connection: commands, store: status.store, log });
    const notifications = new NotificationControl({ config: () => current, connection: commands, store: status.store });
    const router = subscriptionsRouter({ ctx: subscriptions, auth: AdminAuth.forRedis(commands, config.redis.prefix, [TOKEN]), log });
    app = createWebApp({ config, liveConfig: () => current, status, snapshot, adminTokens: [TOKEN], ready: () => status.store.ping(), probes, notifications, subscriptions: router, log });
    // The worker role's pieces, wired as src/roles/worker.ts wires them.
    const shapes = new StatuspageMapper(config);
    const outbox = startOutboxDispatcher({ config: () => current, status, connection: commands, log });
    const notify = startNotifyWorker({ config: () => current, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
    const dispatch = startSubscriberDispatcher({ config: () => current, status, store, shapes, connection: commands, log });
    const delivery = startSubscriberDelivery({ config: () => current, status, store, shapes, connection: blocking, log });
    stops.push(() => outbox.close(), () => notify.close(), () => dispatch.close(), () => delivery.close(), () => queued.close(), () => probes.close(), () => notifications.close(), () => snapshot.stop());
  });

  after(async () => {
    for (const stop of stops) await stop();
    await Promise.all([smtp.stop(), oncall.stop(), ...Object.values(hooks).map((h) => h.stop())]);
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  it("GET /subscriptions offers the form (HTML, every value escaped) and what can be subscribed (JSON)", async () => {
    const page = await request(app).get("/subscriptions").set("accept", "text/html").expect(200).expect("content-type", /html/);
    assert.match(page.text, /<form method="post" action="\/subscriptions">/);
    assert.match(page.text, /name="email"/);
    assert.match(page.text, /name="endpoint"/);
    assert.match(page.text, /value="qa"> Realtime - Q&amp;A/);
    assert.ok(page.text.includes("Subs &lt;Status&gt;") && !page.text.includes("Subs <Status>"), "the page name is escaped");
    const offer = await request(app).get("/subscriptions").expect(200).expect("content-type", /json/);
    assert.deepEqual(offer.body.types, ["webhook", "email"]);
    assert.deepEqual(offer.body.components.map((c: { id: string }) => c.id), ["chat", "qa", "cache"]);
    assert.equal(offer.body.confirm_ttl, "1h");
  });

  it("a webhook endpoint gets a confirmation request; its link confirms (twice answers the same); no link is stored", async () => {
    const confirmUrl = await subscribeWebhook(hooks.all);
    const [request0] = hooks.all.requests;
    assert.equal(request0!.method, "POST");
    assert.match(String(request0!.headers["content-type"]), /application\/json/);
    const body = request0!.json as Hook;
    assert.deepEqual(Object.keys(body), ["meta", "page", "subscription_confirmation"]);
    assert.ok(confirmUrl.startsWith(`${PAGE_URL}/subscriptions/confirm?token=`), confirmUrl);
    assert.deepEqual(body.subscription_confirmation!.components, []);
    assert.ok(INDICATORS.includes(body.page!.status_indicator));
    const token = new URL(confirmUrl).searchParams.get("token")!;
    const first = await confirm(confirmUrl);
    assert.equal(first.status, "confirmed");
    assert.match(first.message, /is confirmed: you will get every incident/);
    assert.ok(first.unsubscribe_url.startsWith(`${PAGE_URL}/subscriptions/unsubscribe?token=`));
    const again = await confirm(confirmUrl);
    assert.match(again.message, /already confirmed/);
    assert.equal(again.subscriber.id, first.subscriber.id);
    // Neither link is anywhere in Redis: tokens are signed, never stored.
    const unsubscribeToken = new URL(first.unsubscribe_url).searchParams.get("token")!;
    const keys = await commands.keys(`${config.redis.prefix}:subscriptions:*`);
    for (const key of keys) {
      const type = await commands.type(key);
      const dump = type === "string" ? await commands.get(key) : type === "hash" ? JSON.stringify(await commands.hgetall(key)) : "";
      for (const secret of [token, token.split(".")[1]!, unsubscribeToken.split(".")[1]!]) assert.ok(!dump?.includes(secret), `${key} holds a link token`);
    }
  });

  it("subscribers choose components; one left unconfirmed gets nothing", async () => {
    await confirm(await subscribeWebhook(hooks.chat, ["chat"]));
    await subscribeWebhook(hooks.pending);
    const list = await admin();
    assert.deepEqual(list.map((s) => [s.endpoint, s.components]).sort(), [[hooks.all.url("/statuspage"), []], [hooks.chat.url("/statuspage"), ["chat"]]].sort());
  });

  let qaIncident: string;

  it("an incident's post, update and resolution reach a subscriber in order, in Statuspage's webhook shape; others' filters hold", async () => {
    const { incident } = await openIncident(status, { name: "Q&A questions are delayed", body: "Questions take <b>minutes</b> to appear.", components: { qa: "partial_outage" }, author: person });
    qaIncident = incident.id;
    await waitFor("the opening post", () => incidentPosts(hooks.all, incident.id).length > 0, 10_000, 25);
    await appendUpdate(status, { id: incident.id, status: "identified", body: "A stuck consumer; restarting it.", detail: "consumer qa-7 on node-2 (10.0.0.7:6380) stuck", author: person });
    await appendUpdate(status, { id: incident.id, body: "restart step 1 of 2 took 3 s on node-2", internal: true, author: person });
    await resolveIncident(status, { id: incident.id, body: "Questions flow again.", author: person });
    const posts = await waitFor("three incident posts at the all-components subscriber", () => (incidentPosts(hooks.all, incident.id).length >= 3 ? incidentPosts(hooks.all, incident.id) : undefined), 15_000, 50);
    await settle();
    assert.equal(incidentPosts(hooks.all, incident.id).length, 3, "each public timeline entry once, the on-call-only one never");
    assert.doesNotMatch(JSON.stringify(incidentPosts(hooks.all, incident.id)), /node-2|qa-7|10\.0\.0\.7|step 1 of 2/, "no technical detail reaches a subscriber");
    assert.deepEqual(posts.map((p) => p.incident!.status), ["investigating", "identified", "resolved"], "in timeline order, each as of its entry");
    assert.deepEqual(posts.map((p) => p.incident!.incident_updates.length), [1, 2, 3]);
    const stored = publicIncident((await status.store.incident(incident.id))!);
    posts.forEach((post, i) => {
      assert.deepEqual(Object.keys(post).slice(0, 3), ["meta", "page", "incident"]);
      assert.ok(post.meta!.unsubscribe!.startsWith(`${PAGE_URL}/subscriptions/unsubscribe?token=`));
      assert.equal(post.meta!.documentation, `${PAGE_URL}/subscriptions`);
      assert.deepEqual(Object.keys(post.page!), ["id", "status_indicator", "status_description"]);
      assert.ok(INDICATORS.includes(post.page!.status_indicator), post.page!.status_indicator);
      for (const field of INCIDENT_FIELDS) assert.ok(field in post.incident!, `incident lacks ${field}`);
      assert.ok(INCIDENT_STATUSES.includes(post.incident!.status));
      assert.equal(post.incident!.impact, "major");
      assert.equal(post.incident!.shortlink, `${PAGE_URL}/incidents/${incident.id}`);
      const newest = post.incident!.incident_updates[0]!;
      for (const field of UPDATE_FIELDS) assert.ok(field in newest, `incident update lacks ${field}`);
      assert.equal(newest.id, stored.updates[i]!.id, "the newest update is the one announced");
      assert.deepEqual(post.incident!.components.map((c) => c.id), ["qa"]);
    });
    assert.equal(posts[0]!.page!.status_indicator, "major", "the page's status when the post was sent");
    assert.equal(posts[0]!.page!.status_description, "Partial System Outage");
    // The same document as the public API serves.
    await snapshot.refresh();
    const api = (await request(app).get("/api/v2/incidents.json").expect(200)).body.incidents.find((i: { id: string }) => i.id === incident.id);
    assert.deepEqual(Object.keys(posts[2]!.incident!).sort(), Object.keys(api).sort());
    assert.deepEqual(posts[2]!.incident!.incident_updates.map((u) => u.id), api.incident_updates.map((u: { id: string }) => u.id));
    assert.equal(incidentPosts(hooks.chat).length, 0, "the chat-only subscriber got nothing of a Q&A incident");
    assert.equal(bodies(hooks.pending).filter((b) => !b.subscription_confirmation).length, 0, "the unconfirmed subscriber got nothing");
    await waitFor("the on-call channel's four posts", () => oncall.requests.length >= 4, 10_000, 50);
    assert.equal(oncall.requests.length, 4, "on-call channels get every post, the on-call-only one too: the outbox has a consumer group each");
    assert.match(oncall.requests.map((r) => r.raw).join("\n"), /node-2 \(10\.0\.0\.7:6380\) stuck/, "with the technical detail");
  });

  it("the Q&A incident's change of Q&A's status reached the all-components subscriber as component updates", async () => {
    const updates = await waitFor("two component updates of qa", () => (componentPosts(hooks.all, "qa").length >= 2 ? componentPosts(hooks.all, "qa") : undefined), 10_000, 50);
    assert.deepEqual(updates.map((u) => [u.component_update!.old_status, u.component_update!.new_status]), [["operational", "partial_outage"], ["partial_outage", "operational"]]);
    assert.equal(componentPosts(hooks.chat).length, 0);
    // The two changes are the Q&A incident's own: opened partial_outage, back to operational when it resolved.
    const incident = (await status.store.incident(qaIncident))!;
    const near = (at: string, to: string, what: string) => assert.ok(Math.abs(Date.parse(at) - Date.parse(to)) < 1_000, `${what}: ${at} vs ${to}`);
    near(updates[0]!.component_update!.created_at, incident.created_at, "the change to partial_outage came with the opening");
    near(updates[1]!.component_update!.created_at, incident.resolved_at!, "the change back came with the resolution");
  });

  it("a component status change produces a component_update payload for subscribers of that component", async () => {
    await setComponentStatus(status, { id: "chat", status: "major_outage", reason: "echo failed" });
    const [post] = await waitFor("a component update at the chat subscriber", () => (componentPosts(hooks.chat, "chat").length > 0 ? componentPosts(hooks.chat, "chat") : undefined), 10_000, 50);
    assert.deepEqual(Object.keys(post!).slice(0, 4), ["meta", "page", "component_update", "component"]);
    const update = post!.component_update!;
    assert.deepEqual([update.component_id, update.old_status, update.new_status], ["chat", "operational", "major_outage"]);
    assert.ok(update.id && !Number.isNaN(Date.parse(update.created_at)));
    const component = post!.component!;
    for (const field of ["created_at", "id", "name", "status"]) assert.ok(field in component, `component lacks ${field}`);
    assert.deepEqual([component.id, component.name, component.status], ["chat", "Chat", "major_outage"]);
    assert.ok(COMPONENT_STATUSES.includes(component.status));
    assert.equal(post!.page!.status_indicator, "critical");
    await setComponentStatus(status, { id: "chat", status: "operational" });
    await waitFor("the recovery at the chat subscriber", () => componentPosts(hooks.chat, "chat").length >= 2, 10_000, 50);
    await waitFor("both at the all-components subscriber", () => componentPosts(hooks.all, "chat").length >= 2, 10_000, 50);
    await settle();
    assert.deepEqual(componentPosts(hooks.chat, "chat").map((p) => p.component_update!.new_status), ["major_outage", "operational"]);
    assert.equal(componentPosts(hooks.chat, "qa").length, 0);
    // The same status again is no change: nothing more is announced.
    await setComponentStatus(status, { id: "chat", status: "operational", reason: "still fine" });
    await settle();
    assert.equal(componentPosts(hooks.all, "chat").length, 2);
  });

  it("an incident touching chat reaches the chat-only subscriber", async () => {
    const { incident } = await openIncident(status, { name: "Chat is down", body: "Messages fail.", components: { chat: "major_outage" }, author: person });
    await appendUpdate(status, { id: incident.id, status: "monitoring", body: "A fix is out.", author: person });
    const chatPosts = await waitFor("two posts at the chat subscriber", () => (incidentPosts(hooks.chat, incident.id).length >= 2 ? incidentPosts(hooks.chat, incident.id) : undefined), 15_000, 50);
    assert.deepEqual(chatPosts.map((p) => p.incident!.status), ["investigating", "monitoring"]);
    assert.deepEqual(chatPosts.map((p) => p.incident!.components.map((c) => c.id)), [["chat"], ["chat"]]);
    await resolveIncident(status, { id: incident.id, author: person });
    await waitFor("the resolution at the chat subscriber", () => incidentPosts(hooks.chat, incident.id).length >= 3, 15_000, 50);
  });

  it("a post waits for the one before it while that one is retried, and a retry carries the same webhook-id", async () => {
    await confirm(await subscribeWebhook(hooks.flaky));
    const before = hooks.flaky.requests.length;
    hooks.flaky.answer({ status: 503, body: "try later" }, 2);
    // No components: no component updates, so the two failures hit the opening post.
    const { incident } = await openIncident(status, { name: "Logins are slow", body: "Slow logins.", author: person });
    await appendUpdate(status, { id: incident.id, status: "identified", body: "A slow database.", author: person });
    await resolveIncident(status, { id: incident.id, author: person });
    await waitFor("three posts delivered to the flaky subscriber", () => new Set(hooks.flaky.requests.slice(before + 2).map((r) => r.headers["webhook-id"])).size >= 3, 15_000, 50);
    await settle();
    const attempts = hooks.flaky.requests.slice(before);
    assert.equal(attempts.length, 5, "three posts, the first tried three times");
    assert.deepEqual(attempts.slice(0, 3).map((r) => (r.json as Hook).incident!.status), ["investigating", "investigating", "investigating"], "nothing overtook the failing opening post");
    assert.equal(new Set(attempts.slice(0, 3).map((r) => r.headers["webhook-id"])).size, 1, "a retry carries the same webhook-id");
    assert.deepEqual(attempts.map((r) => (r.json as Hook).incident!.status).slice(2), ["investigating", "identified", "resolved"]);
  });

  it("unsubscribing through meta.unsubscribe stops deliveries; doing it again answers the same", async () => {
    const [post] = incidentPosts(hooks.all);
    const unsubscribeUrl = post!.meta!.unsubscribe!;
    const gone = await request(app).post(pathOf(unsubscribeUrl)).expect(200);
    assert.equal(gone.body.status, "unsubscribed");
    await request(app).get(pathOf(unsubscribeUrl)).set("accept", "application/json").expect(200);
    assert.ok(!(await admin()).some((s) => s.endpoint === hooks.all.url("/statuspage")));
    const before = hooks.all.requests.length;
    const { incident } = await openIncident(status, { name: "Cache is slow", body: "Slow reads.", components: { cache: "degraded_performance" }, author: person });
    await waitFor("the chat-less incident at the flaky subscriber", () => incidentPosts(hooks.flaky, incident.id).length > 0, 10_000, 50);
    await settle();
    assert.equal(hooks.all.requests.length, before, "the unsubscribed endpoint got nothing more");
    await resolveIncident(status, { id: incident.id, author: person });
  });

  it("a browser following an unsubscribe link gets a button first (mail scanners follow links)", async () => {
    const [post] = incidentPosts(hooks.chat);
    const page = await request(app).get(pathOf(post!.meta!.unsubscribe!)).set("accept", "text/html").expect(200);
    assert.match(page.text, /<form method="post" action="\/subscriptions\/unsubscribe"><input type="hidden" name="token" value="[^"]+"><button type="submit">Unsubscribe<\/button>/);
    assert.ok((await admin()).some((s) => s.endpoint === hooks.chat.url("/statuspage")), "still subscribed until the button is pressed");
  });

  it("an endpoint answering 410 Gone is unsubscribed", async () => {
    await confirm(await subscribeWebhook(hooks.gone));
    hooks.gone.answer({ status: 410, body: "gone" }, 10);
    const { incident } = await openIncident(status, { name: "Q&A is slow again", body: "Slow.", components: { qa: "degraded_performance" }, author: person });
    await waitFor("the 410 subscriber to be removed", async () => !(await admin()).some((s) => s.endpoint === hooks.gone.url("/statuspage")), 10_000, 50);
    await resolveIncident(status, { id: incident.id, author: person });
  });

  it("subscribing again answers the same as the first time; confirming it changes the components, with one subscriber per endpoint", async () => {
    const fresh = await request(app).post("/subscriptions").send({ type: "webhook", endpoint: hooks.pending.url("/statuspage"), components: ["chat"] }).expect(202);
    const again = await request(app).post("/subscriptions").send({ type: "webhook", endpoint: hooks.chat.url("/statuspage"), components: ["chat", "qa"] }).expect(202);
    assert.deepEqual(Object.keys(fresh.body), Object.keys(again.body));
    assert.equal(fresh.body.message, again.body.message, "nothing tells whether an endpoint is subscribed");
    const confirmUrl = await waitFor("a second confirmation request", () => confirmations(hooks.chat)[1]?.subscription_confirmation?.confirm_url, 10_000, 25);
    const before = (await admin()).find((s) => s.endpoint === hooks.chat.url("/statuspage"))!;
    assert.deepEqual(before.components, ["chat"], "unchanged until confirmed");
    const changed = await confirm(confirmUrl);
    assert.equal(changed.subscriber.id, before.id, "the same subscriber");
    assert.deepEqual(changed.subscriber.components, ["chat", "qa"]);
    assert.equal((await admin()).filter((s) => s.endpoint === hooks.chat.url("/statuspage")).length, 1);
  });

  it("an address gets at most five confirmation requests an hour; the answer does not change after that", async () => {
    const sent = confirmations(hooks.pending).length;
    assert.equal(sent, 2, "two so far (the first subscription and the one just before)");
    for (let i = 0; i < 5; i++) {
      const res = await request(app).post("/subscriptions").send({ type: "webhook", endpoint: hooks.pending.url("/statuspage") }).expect(202);
      assert.equal(res.body.status, "pending");
    }
    await waitFor("five confirmation requests", () => confirmations(hooks.pending).length >= 5, 10_000, 25);
    await settle();
    assert.equal(confirmations(hooks.pending).length, 5);
  });

  it("e-mail: double opt-in, then one mail per post with an unsubscribe link and one-click List-Unsubscribe", async () => {
    const address = "Ana.Lima@Example.COM";
    const res = await request(app).post("/subscriptions").type("form").set("accept", "text/html").send(`type=email&email=${encodeURIComponent(address)}&components=qa&components=chat`).expect(202);
    assert.match(res.text, /Check your inbox/);
    const optIn = await waitFor("the opt-in mail", () => smtp.messages[0], 10_000, 25);
    assert.deepEqual(optIn.envelope.to, ["Ana.Lima@example.com"], "the domain is lower-cased, the local part kept");
    assert.equal(optIn.subject, "Confirm your subscription to Subs <Status>");
    const link = /(https:\/\/status\.subs\.example\/subscriptions\/confirm\?token=\S+)/.exec(optIn.text)?.[1];
    assert.ok(link, optIn.text);
    assert.ok(optIn.html.includes("Subs &lt;Status&gt;"), "the HTML body escapes the page name");
    const before = smtp.messages.length;
    const { incident } = await openIncident(status, { name: "Chat drops <messages>", body: "Some messages are lost & retried.", components: { chat: "partial_outage" }, author: person });
    await settle(1_500);
    assert.equal(smtp.messages.length, before, "nothing before the opt-in is confirmed");
    const page = await request(app).get(pathOf(link)).set("accept", "text/html").expect(200);
    assert.match(page.text, /Subscription confirmed/);
    await appendUpdate(status, { id: incident.id, status: "identified", body: "A bad deploy; rolling back.", author: person });
    await resolveIncident(status, { id: incident.id, body: "All messages flow.", author: person });
    const mails = await waitFor("two incident mails", () => (smtp.messages.length >= before + 2 ? smtp.messages.slice(before) : undefined), 15_000, 50);
    await settle();
    assert.equal(smtp.messages.length, before + 2, "component updates are not mailed");
    const [identified, resolved] = mails as [RecordedMail, RecordedMail];
    assert.equal(identified.subject, "[Subs <Status>] Chat drops <messages> — Identified");
    assert.equal(resolved.subject, "[Subs <Status>] Chat drops <messages> — Resolved");
    assert.match(identified.text, /A bad deploy; rolling back\./);
    assert.match(identified.text.replace(/\r\n/g, "\n"), /Affected:\n {2}(Realtime - )?Chat: Partial outage/);
    assert.ok(identified.html.includes("Chat drops &lt;messages&gt;") && !identified.html.includes("<messages>"));
    const unsubscribe = identified.headers.get("list-unsubscribe")!;
    assert.match(unsubscribe, /^<https:\/\/status\.subs\.example\/subscriptions\/unsubscribe\?token=[^>]+>$/);
    assert.equal(identified.headers.get("list-unsubscribe-post"), "List-Unsubscribe=One-Click");
    assert.ok(identified.text.includes(unsubscribe.slice(1, -1)), "the body carries the same link");
    assert.equal(identified.headers.get("in-reply-to"), `<pulseboard.subscriber.${incident.id}@status.subs.example>`);
    // RFC 8058 one-click: a POST of List-Unsubscribe=One-Click to the link.
    await request(app).post(pathOf(unsubscribe.slice(1, -1))).type("form").send("List-Unsubscribe=One-Click").expect(200);
    assert.ok(!(await admin()).some((s) => s.type === "email"));
    const after = smtp.messages.length;
    const next = await openIncident(status, { name: "Chat again", body: "Again.", components: { chat: "degraded_performance" }, author: person });
    await waitFor("the next incident at the chat webhook", () => incidentPosts(hooks.chat, next.incident.id).length > 0, 10_000, 50);
    await settle();
    assert.equal(smtp.messages.length, after, "no mail after unsubscribing");
    await resolveIncident(status, { id: next.incident.id, author: person });
  });

  it("bad input gets a 4xx naming the problem", async () => {
    const bad = async (body: unknown, pattern: RegExp, statusCode = 400) => {
      const res = await request(app).post("/subscriptions").send(body as object).expect(statusCode);
      assert.match(JSON.stringify(res.body), pattern, JSON.stringify(res.body));
      return res;
    };
    await bad({ type: "webhook", endpoint: "ftp://hooks.example.com/x" }, /endpoint: .*scheme must be http or https, not ftp/);
    await bad({ type: "webhook", endpoint: "not a url" }, /endpoint: expected an http\(s\) URL/);
    await bad({ type: "webhook", endpoint: "http://169.254.169.254/latest/meta-data" }, /endpoint: must not point at a link-local address/);
    await bad({ type: "webhook", endpoint: "http://metadata.google.internal/computeMetadata/v1" }, /endpoint: must not point at a cloud metadata service/);
    await bad({ type: "webhook", endpoint: "http://[fe80::1]/hook" }, /endpoint: must not point at a link-local address/);
    await bad({ type: "webhook", endpoint: "https://hooks.example.com/a#b" }, /endpoint: must not contain a #fragment/);
    await bad({ type: "webhook" }, /endpoint: /);
    await bad({ type: "email", email: "ana@" }, /email: expected an e-mail address/);
    await bad({ type: "email", email: "Ana <ana@example.com>" }, /email: expected an e-mail address/);
    await bad({ type: "email", email: "ana@example.com", components: ["chat", "nope"] }, /components: no component has the id \\"nope\\" \(known: chat, qa, cache\)/);
    await bad({ type: "sms", phone: "123" }, /type: expected \\"webhook\\" or \\"email\\"/);
    await bad({ endpoint: "https://hooks.example.com/x" }, /type: required/);
    await bad({ type: "webhook", endpoint: "https://hooks.example.com/x", secret: "x" }, /Unrecognized key/);
    const huge = await request(app).post("/subscriptions").send({ type: "webhook", endpoint: `https://hooks.example.com/${"a".repeat(20_000)}` }).expect(413);
    assert.equal(huge.body.code, "body_too_large");
    const plain = await request(app).post("/subscriptions").set("content-type", "text/plain").send("type=webhook").expect(415);
    assert.match(plain.body.message, /application\/json or application\/x-www-form-urlencoded/);
    await request(app).post("/subscriptions").set("content-type", "application/json").send("{not json").expect(400);
    // Tokens: malformed, made up, valid but expired.
    const malformed = await request(app).get("/subscriptions/confirm?token=abc").expect(400);
    assert.match(malformed.body.message, /token: this is not a token from one of our links/);
    await request(app).get("/subscriptions/confirm").expect(400);
    const madeUp = await request(app).get(`/subscriptions/confirm?token=${"a".repeat(16)}.${"A".repeat(43)}`).expect(404);
    assert.match(madeUp.body.message, /confirmation link .*not one we sent/);
    await request(app).get(`/subscriptions/unsubscribe?token=${"a".repeat(16)}.${"A".repeat(43)}`).expect(404);
    const signer = await subscriptions.store.linkSigner();
    const expired = await request(app).get(`/subscriptions/confirm?token=${signer.token("confirm", "0123456789abcdef")}`).expect(410);
    assert.match(expired.body.message, /expired; subscribe again/);
    assert.equal(expired.body.code, "link_expired");
    const wrongPurpose = await request(app).get(`/subscriptions/unsubscribe?token=${signer.token("confirm", "0123456789abcdef")}`).expect(404);
    assert.equal(wrongPurpose.body.code, "not_found", "a confirm token does not unsubscribe");
    // HTML clients get the same problems as a page.
    const html = await request(app).post("/subscriptions").type("form").set("accept", "text/html").send("type=email&email=nope").expect(400);
    assert.match(html.text, /<li>email: expected an e-mail address like &quot;ana@example.com&quot;<\/li>/);
  });

  it("e-mail subscriptions without an SMTP server, and webhooks turned off, are refused with a clear message", async () => {
    current = { ...config, subscriptions: { ...config.subscriptions, email: undefined, webhook: { enabled: false } } };
    try {
      const email = await request(app).post("/subscriptions").send({ type: "email", email: "ana@example.com" }).expect(400);
      assert.match(email.body.message, /e-mail subscriptions are not available on this page \(no SMTP server is configured/);
      const hook = await request(app).post("/subscriptions").send({ type: "webhook", endpoint: "https://hooks.example.com/x" }).expect(400);
      assert.match(hook.body.message, /webhook subscriptions are turned off/);
      assert.deepEqual((await request(app).get("/subscriptions").expect(200)).body.types, []);
    } finally {
      current = config;
    }
  });

  it("limits requests per client address (429 with Retry-After)", async () => {
    current = { ...config, subscriptions: { ...config.subscriptions, rateLimit: { requests: 2, perMs: 60_000 } } };
    try {
      for (const key of await commands.keys(`${config.redis.prefix}:subscriptions:rate:*`)) await commands.del(key);
      await request(app).get("/subscriptions/confirm?token=x").expect(400);
      await request(app).get("/subscriptions/confirm?token=x").expect(400);
      const limited = await request(app).post("/subscriptions").send({ type: "webhook", endpoint: "https://hooks.example.com/x" }).expect(429);
      assert.equal(limited.headers["retry-after"], "60");
      assert.equal(limited.body.code, "rate_limited");
      await request(app).get("/subscriptions").expect(200);
    } finally {
      current = config;
    }
  });

  it("the admin API lists subscribers without tokens, deletes one, and wants a bearer token", async () => {
    await request(app).get("/admin/api/subscribers").expect(401);
    const list = await admin();
    assert.ok(list.length >= 2);
    for (const subscriber of list) {
      assert.deepEqual(Object.keys(subscriber).filter((k) => !["endpoint", "email"].includes(k)).sort(), ["components", "confirmed_at", "created_at", "id", "type", "updated_at"]);
      assert.ok(!/token/i.test(JSON.stringify(subscriber)));
    }
    // A post the flaky endpoint answers with a redirect is given up at once (deliveries never follow one): a dead letter.
    hooks.flaky.answer({ status: 301, body: "moved" });
    const { incident: lost } = await openIncident(status, { name: "Search is slow", body: "Searches take seconds.", components: { qa: "degraded_performance" }, author: person });
    const letters = await waitFor(
      "the subscriber dead letter",
      async () => {
        const { body } = await request(app).get("/admin/api/subscribers/dead-letters").set("authorization", `Bearer ${TOKEN}`).expect(200);
        return (body.dead_letters as SubscriberDeadLetter[]).length > 0 ? (body.dead_letters as SubscriberDeadLetter[]) : undefined;
      },
      10_000,
      100,
    );
    await resolveIncident(status, { id: lost.id, body: "Searches are fast again.", author: person });
    const victim = list.find((s) => s.endpoint === hooks.flaky.url("/statuspage"))!;
    assert.ok(letters.some((l) => l.subscriber === victim.id && /redirect/.test(l.reason)), `the dead letter names the subscriber by id and why: ${JSON.stringify(letters).slice(0, 300)}`);
    const one = await request(app).get(`/admin/api/subscribers/${victim.id}`).set("authorization", `Bearer ${TOKEN}`).expect(200);
    assert.equal(one.body.subscriber.endpoint, hooks.flaky.url("/statuspage"));
    await request(app).delete(`/admin/api/subscribers/${victim.id}`).set("authorization", `Bearer ${TOKEN}`).expect(204);
    await request(app).delete(`/admin/api/subscribers/${victim.id}`).set("authorization", `Bearer ${TOKEN}`).expect(404);
    const dead = await request(app).get("/admin/api/subscribers/dead-letters").set("authorization", `Bearer ${TOKEN}`).expect(200);
    assert.ok((dead.body.dead_letters as SubscriberDeadLetter[]).length > 0);
    for (const letter of dead.body.dead_letters as SubscriberDeadLetter[]) assert.ok(!JSON.stringify(letter).includes("127.0.0.1:"), `dead letters name subscribers by id, never by address: ${JSON.stringify(letter)}`);
  });

  it("a dispatcher that reads both outboxes again from the start (as after a crash before acknowledging) sends nothing twice", async () => {
    const queue = new Queue("subscriptions", { connection: commands, prefix: `${config.redis.prefix}:bull` });
    const idle = async () => {
      const counts = await queue.getJobCounts("wait", "active", "delayed");
      return (counts.wait ?? 0) + (counts.active ?? 0) + (counts.delayed ?? 0) === 0;
    };
    const delivered = (receiver: HttpReceiver) => receiver.requests.map((r) => String(r.headers["webhook-id"]));
    try {
      await waitFor("deliveries to settle", idle, 15_000, 100);
      const before = delivered(hooks.chat);
      assert.equal(new Set(before).size, before.length, "nothing was sent twice so far");
      for (const stream of [status.store.keys.outbox, status.store.keys.componentOutbox]) await commands.xgroup("SETID", stream, "subscribers", "0");
      await waitFor("the dispatcher to have read everything again", async () => {
        const groups = (await commands.xinfo("GROUPS", status.store.keys.outbox)) as unknown[][];
        const group = groups.find((g) => g[1] === "subscribers")!;
        return group[group.indexOf("lag") + 1] === 0 && group[group.indexOf("pending") + 1] === 0;
      }, 10_000, 50);
      await settle(1_000);
      await waitFor("deliveries to settle again", idle, 15_000, 100);
      const after = delivered(hooks.chat);
      // Posts from before the subscriber chose Q&A may arrive now (the whole history was replayed), but none twice.
      assert.equal(new Set(after).size, after.length, `no post twice: ${after.filter((id, i) => after.indexOf(id) !== i).join(", ")}`);
      assert.deepEqual(after.slice(0, before.length), before);
    } finally {
      await queue.close();
    }
  });

  it("an effective status is announced once per change, and a first status only when it is not operational", async () => {
    const stream = status.store.keys.componentOutbox;
    const length = await commands.xlen(stream);
    const at = Date.now();
    assert.equal(await status.store.setEffective("nova", "operational", at), true);
    assert.equal(await commands.xlen(stream), length, "a new component starting operational is no news");
    assert.equal(await status.store.setEffective("nova", "major_outage", at + 1), true);
    assert.equal(await status.store.setEffective("nova", "major_outage", at + 2), false);
    const entries = await commands.xrange(stream, "-", "+");
    const news = entries.slice(length).map(([, fields]) => JSON.parse(fields[1]!) as Record<string, string>);
    assert.deepEqual(news.map((e) => [e.type, e.component, e.old_status, e.new_status]), [["component.updated", "nova", "operational", "major_outage"]]);
    assert.equal(news[0]!.at, new Date(at + 1).toISOString());
  });
});
