import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import request from "supertest";
import { channelKinds } from "../../src/notify/index.ts";
import { NotificationControl, ProbeControl, startNotifyWorker, startOutboxDispatcher } from "../../src/pipeline/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { QueuedConfirmations, SubscriberStore, startSubscriberDelivery, startSubscriberDispatcher } from "../../src/subscriptions/index.ts";
import { AdminAuth, createWebApp, SnapshotService, StatuspageMapper, subscriptionsRouter, type WebApp } from "../../src/web/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { HttpReceiver } from "../helpers/receivers.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * "Notify subscribers" off (`notify: false` on the admin API's incident
 * writes): the entry is public and on-call hears of it, but status-page
 * subscribers get no post for it. Real redis-server, BullMQ, the on-call
 * and subscriber pipelines as the worker role runs them, real HTTP receivers.
 */

const TOKEN = "notify-flag-admin-token-0123456789";

interface Hook {
  incident?: { id: string; incident_updates: { id: string; body: string }[] };
  subscription_confirmation?: { confirm_url: string };
}

describe("incident entries that do not notify subscribers (real redis-server, BullMQ, HTTP receivers)", { timeout: 60_000 }, () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;
  let app: WebApp;
  let snapshot: SnapshotService;
  let subscriber: HttpReceiver;
  let oncall: HttpReceiver;
  const stops: (() => Promise<void>)[] = [];

  const admin = (path: string, body: unknown) => request(app).post(`/admin/api${path}`).set("authorization", `Bearer ${TOKEN}`).send(body as object);
  const hooks = () => subscriber.requests.map((r) => r.json as Hook);
  /** The body of the newest entry of each incident post the subscriber got, in arrival order. */
  const postedBodies = (incident: string) => hooks().filter((h) => h.incident?.id === incident).map((h) => h.incident!.incident_updates[0]!.body);
  const oncallBodies = () => oncall.requests.map((r) => r.raw);

  before(async () => {
    redis = await startRedis();
    subscriber = await HttpReceiver.start({ status: 200, body: "ok" });
    oncall = await HttpReceiver.start({ status: 204, body: "" });
    const config = await configFrom(`
redis: { prefix: ${uniquePrefix("notify-flag")} }
page: { name: Flags, url: "https://status.flags.example" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
notifications:
  retry_base: 100ms
  retry_max: 300ms
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/oncall")}" }
subscriptions: { rate_limit: { requests: 1000, per: 1m } }
`, { REDIS_URL: redis.url });
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const status: StatusContext = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    const log = testLog();
    const store = new SubscriberStore(commands, config.redis.prefix);
    const confirmations = new QueuedConfirmations({ config: () => config, connection: commands });
    snapshot = SnapshotService.forStore(status, () => config, { refreshMs: 60_000, log });
    await snapshot.start();
    const probes = new ProbeControl({ config: () => config, connection: commands, store: status.store, log });
    const notifications = new NotificationControl({ config: () => config, connection: commands, store: status.store });
    const router = subscriptionsRouter({ ctx: { store, config: () => config, confirmations }, auth: AdminAuth.forRedis(commands, config.redis.prefix, [TOKEN]), log });
    app = createWebApp({ config, status, snapshot, adminTokens: [TOKEN], ready: () => status.store.ping(), probes, notifications, subscriptions: router, log });
    const shapes = new StatuspageMapper(config);
    const outbox = startOutboxDispatcher({ config: () => config, status, connection: commands, log });
    const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
    const dispatch = startSubscriberDispatcher({ config: () => config, status, store, shapes, connection: commands, log });
    const delivery = startSubscriberDelivery({ config: () => config, status, store, shapes, connection: blocking, log });
    stops.push(() => outbox.close(), () => notify.close(), () => dispatch.close(), () => delivery.close(), () => confirmations.close(), () => probes.close(), () => notifications.close(), () => snapshot.stop());

    await request(app).post("/subscriptions").send({ type: "webhook", endpoint: subscriber.url("/statuspage") }).expect(202);
    const confirm = await waitFor("the confirmation request", () => hooks().find((h) => h.subscription_confirmation), 10_000, 25);
    const url = new URL(confirm.subscription_confirmation!.confirm_url);
    await request(app).get(url.pathname + url.search).set("accept", "application/json").expect(200);
  });

  after(async () => {
    for (const stop of stops) await stop();
    await Promise.all([subscriber.stop(), oncall.stop()]);
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  it("an update with notify: false is public and told to on-call, but no subscriber post is made for it", async () => {
    const opened = await admin("/incidents", { name: "Chat delays", body: "Messages are late.", components: { chat: "partial_outage" } }).expect(201);
    const id = opened.body.incident.id as string;
    assert.equal(opened.body.incident.updates[0].notify, undefined, "notifying is the default");
    await waitFor("the opening at the subscriber", () => postedBodies(id).length === 1, 10_000, 25);

    const quiet = await admin(`/incidents/${id}/updates`, { status: "identified", body: "A quiet note: we found a stuck consumer.", notify: false }).expect(200);
    assert.equal(quiet.body.incident.updates[1].notify, false);
    await admin(`/incidents/${id}/resolve`, { body: "Messages flow again." }).expect(200);

    // Posts of one incident reach a subscriber in order, so once the resolution is there the quiet entry would have been too.
    await waitFor("the resolution at the subscriber", () => postedBodies(id).includes("Messages flow again."), 10_000, 25);
    assert.deepEqual(postedBodies(id), ["Messages are late.", "Messages flow again."]);
    await waitFor("three on-call posts", () => oncallBodies().length >= 3, 10_000, 25);
    assert.ok(oncallBodies().some((b) => b.includes("A quiet note: we found a stuck consumer.")), "on-call channels still get it");

    await snapshot.refresh();
    const page = await request(app).get(`/incidents/${id}`).expect(200);
    assert.match(page.text, /A quiet note: we found a stuck consumer\./, "it is on the public page");
    const api = await request(app).get("/api/v2/incidents.json").expect(200);
    const updates = (api.body.incidents as { id: string; incident_updates: { body: string; deliver_notifications: boolean }[] }[]).find((i) => i.id === id)!.incident_updates;
    assert.deepEqual(updates.map((u) => [u.body, u.deliver_notifications]), [
      ["Messages flow again.", true],
      ["A quiet note: we found a stuck consumer.", false],
      ["Messages are late.", true],
    ], "Statuspage's own field says which entries were delivered");
  });

  it("an incident opened with notify: false reaches no subscriber; its later entries do", async () => {
    const opened = await admin("/incidents", { name: "Chat blip", body: "A short blip.", components: { chat: "degraded_performance" }, notify: false }).expect(201);
    const id = opened.body.incident.id as string;
    await admin(`/incidents/${id}/resolve`, { body: "The blip is over." }).expect(200);
    await waitFor("the resolution at the subscriber", () => postedBodies(id).length > 0, 10_000, 25);
    assert.deepEqual(postedBodies(id), ["The blip is over."]);
    const refused = await admin(`/incidents/${id}/updates`, { body: "x", notify: "no" }).expect(400);
    assert.match(refused.body.message, /^notify: /, "a notify that is not a boolean is named");
  });

  it("a quiet entry that changes a component's status still reaches that component's subscribers as a component update (docs/console.md)", async () => {
    const opened = await admin("/incidents", { name: "Chat worse", body: "Chat is slow.", components: { chat: "degraded_performance" } }).expect(201);
    const id = opened.body.incident.id as string;
    await waitFor("the opening at the subscriber", () => postedBodies(id).length === 1, 10_000, 25);
    await admin(`/incidents/${id}/updates`, { body: "Quietly worse.", components: { chat: "major_outage" }, notify: false }).expect(200);
    await admin(`/incidents/${id}/resolve`, { body: "Chat is back." }).expect(200);
    await waitFor("the resolution at the subscriber", () => postedBodies(id).includes("Chat is back."), 10_000, 25);
    assert.deepEqual(postedBodies(id), ["Chat is slow.", "Chat is back."]);
    // Component updates are a thread of their own, so they may come after the incident's posts.
    const changes = () => subscriber.requests.map((r) => r.json as { component_update?: { component_id: string; new_status: string } }).filter((h) => h.component_update?.component_id === "chat").map((h) => h.component_update!.new_status);
    await waitFor("chat's change to major_outage at the subscriber", () => changes().includes("major_outage"), 10_000, 25);
  });
});
