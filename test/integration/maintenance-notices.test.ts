import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { startMaintenanceClock, startNotifyWorker, startOutboxDispatcher } from "../../src/pipeline/index.ts";
import { advanceMaintenances, cancelMaintenance, editMaintenance, scheduleMaintenance, StatuspageMapper, StatusStore, type Author, type StatusContext } from "../../src/status/index.ts";
import {
  confirmSubscription,
  QueuedConfirmations,
  requestSubscription,
  SubscriberStore,
  startSubscriberDelivery,
  startSubscriberDispatcher,
  type SubscriptionContext,
} from "../../src/subscriptions/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { captureLog, HttpReceiver, SmtpReceiver, type RecordedMail } from "../helpers/receivers.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * Maintenance notices on real parts: two maintenance clocks ticking at once
 * (as two schedulers would) against a real redis-server, the worker role's
 * on-call and subscriber dispatchers and delivery workers on BullMQ, a real
 * HTTP receiver as an on-call webhook channel, another as the PagerDuty
 * Events API, real HTTP receivers as subscriber webhooks and a real SMTP
 * server for e-mail subscribers.
 */

const PAGE_URL = "https://status.notices.example";
const ROUTING_KEY = "R0uTiNgKeYpUlSeBoArD0123456789ab";
const person: Author = { kind: "person", name: "Ana Lima" };
const MINUTE = 60_000;

interface OnCallPost {
  type: string;
  id: string;
  data: { maintenance: { id: string; name: string; status: string; components: { id: string; name: string }[]; scheduled_for: string }; text: string; body: string; maintenance_url: string; urgency: string };
}
interface SubscriberHook {
  incident?: { id: string; name: string; status: string; impact: string; scheduled_for: string; scheduled_until: string; scheduled_reminded_at: string | null; incident_updates: { status: string; body: string }[] };
  subscription_confirmation?: { confirm_url: string };
}

const settle = (ms = 1_500) => new Promise((resolve) => setTimeout(resolve, ms));
const iso = (ms: number) => new Date(ms).toISOString();

describe("maintenance notices: reminders, start and completion (real redis-server, BullMQ, HTTP and SMTP receivers)", { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;
  let base: string;
  let current: Config;
  let status: StatusContext;
  let subscriptions: SubscriptionContext;
  let oncall: HttpReceiver;
  let pager: HttpReceiver;
  let chatHook: HttpReceiver;
  let qaHook: HttpReceiver;
  let smtp: SmtpReceiver;
  const notifyLog = captureLog();
  const stops: (() => Promise<void>)[] = [];

  const onCallPosts = (maintenance: string) => oncall.requests.map((r) => r.json as OnCallPost).filter((p) => p.data?.maintenance?.id === maintenance);
  const hookPosts = (receiver: HttpReceiver, maintenance: string) => receiver.requests.map((r) => r.json as SubscriberHook).filter((b) => b.incident?.id === maintenance);
  const mailsAbout = (maintenance: string): RecordedMail[] => smtp.messages.filter((m) => m.headers.get("x-pulseboard-maintenance") === maintenance);
  const outboxTypes = async (maintenance: string) =>
    (await commands.xrange(status.store.keys.maintenanceOutbox, "-", "+")).map(([, fields]) => JSON.parse(fields[1]!) as { type: string; maintenance: string }).filter((e) => e.maintenance === maintenance).map((e) => e.type);

  /** A scheduler's clock on a connection of its own, as another scheduler process would run it. */
  const startClock = () => {
    const connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    const clock = startMaintenanceClock({ config: () => current, status: { store: new StatusStore(connection, current.redis.prefix), components: current.components }, connection, log: testLog() });
    return {
      tick: clock.tick,
      async stop() {
        await clock.stop();
        connection.disconnect();
      },
    };
  };

  /** Subscribes a webhook endpoint (or an address) for some components, confirming with the link its confirmation request carried. */
  const subscribe = async (input: { type: "webhook"; endpoint: string } | { type: "email"; email: string }, components: string[], confirmUrl: () => string | undefined) => {
    await requestSubscription(subscriptions, { ...input, components });
    const url = await waitFor("the confirmation request", confirmUrl, 10_000, 25);
    await confirmSubscription(subscriptions, new URL(url).searchParams.get("token"));
  };

  const configWith = (maintenance = "") =>
    configFrom(
      `
redis: { prefix: ${base} }
page: { name: "Notices", url: "${PAGE_URL}" }
locations: [{ id: local }]
components:
  - { id: chat, name: Chat }
  - { id: qa, name: Q&A }
notifications:
  retry_base: 100ms
  retry_max: 300ms
  attempts: 5
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/oncall")}" }
    - { id: pager, kind: pagerduty, routing_key: ${ROUTING_KEY}, url: "${pager.url("/v2/enqueue")}" }
subscriptions:
  email:
    from: "Notices <status@notices.example>"
    smtp: { host: 127.0.0.1, port: ${smtp.port}, starttls: false, timeout: 5s }
${maintenance}`,
      { REDIS_URL: redis.url },
    );

  before(async () => {
    redis = await startRedis();
    base = uniquePrefix("notices");
    oncall = await HttpReceiver.start({ status: 204, body: "" });
    pager = await HttpReceiver.start({ status: 202, body: { status: "success", message: "Event processed" } });
    chatHook = await HttpReceiver.start({ status: 200, body: "ok" });
    qaHook = await HttpReceiver.start({ status: 200, body: "ok" });
    smtp = await SmtpReceiver.start();
    current = await configWith();
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    status = { store: new StatusStore(commands, current.redis.prefix), components: current.components };
    const log = testLog();
    const store = new SubscriberStore(commands, current.redis.prefix);
    const confirmations = new QueuedConfirmations({ config: () => current, connection: commands });
    subscriptions = { store, config: () => current, confirmations };
    // The worker role's pieces, wired as src/roles/worker.ts wires them.
    const shapes = new StatuspageMapper(current);
    const outbox = startOutboxDispatcher({ config: () => current, status, connection: commands, log });
    const notify = startNotifyWorker({ config: () => current, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log: notifyLog.log });
    const dispatch = startSubscriberDispatcher({ config: () => current, status, store, shapes, connection: commands, log });
    const delivery = startSubscriberDelivery({ config: () => current, status, store, shapes, connection: blocking, log });
    stops.push(() => outbox.close(), () => notify.close(), () => dispatch.close(), () => delivery.close(), () => confirmations.close());

    const confirmOf = (receiver: HttpReceiver) => () => receiver.requests.map((r) => r.json as SubscriberHook).find((b) => b.subscription_confirmation)?.subscription_confirmation?.confirm_url;
    await subscribe({ type: "webhook", endpoint: chatHook.url("/statuspage") }, ["chat"], confirmOf(chatHook));
    await subscribe({ type: "webhook", endpoint: qaHook.url("/statuspage") }, ["qa"], confirmOf(qaHook));
    await subscribe({ type: "email", email: "ana@notices.example" }, [], () => /https:\/\/\S+confirm\?token=\S+/.exec(smtp.messages[0]?.text ?? "")?.[0]);
  });

  after(async () => {
    for (const stop of stops) await stop();
    await Promise.all([oncall.stop(), pager.stop(), chatHook.stop(), qaHook.stop(), smtp.stop()]);
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  it("a window 3 s ahead with remind_before 2s: the reminder, the start and the completion reach a webhook subscriber, an e-mail subscriber and an on-call webhook once each, in order, with two clocks ticking and one restarted", async (t) => {
    const starts = Date.now() + 3_000;
    current = await configWith(`maintenance:
  - { id: chat-upgrade, name: Chat upgrade, components: [chat], starts_at: "${iso(starts)}", ends_at: "${iso(starts + 2_000)}", remind_before: 2s, message: "Chat may reconnect once." }`);
    const first = startClock();
    let second = startClock();
    stops.push(() => first.stop(), () => second.stop());
    const window = await waitFor("the window on the calendar", async () => (await status.store.openMaintenances()).find((m) => m.name === "Chat upgrade"), 5_000, 25);
    assert.equal(window.remind_before_minutes! * MINUTE, 2_000, "remind_before: 2s, kept in minutes");

    const reminder = await waitFor("the reminder at the on-call webhook", () => onCallPosts(window.id)[0], 10_000, 25);
    t.diagnostic(`reminder at the on-call receiver ${starts - oncall.requests.find((r) => (r.json as OnCallPost).id === reminder.id)!.at} ms before the start (due 2000 ms before)`);
    assert.equal(reminder.type, "maintenance.reminder");
    assert.match(reminder.data.text, /^Scheduled maintenance of Chat starts in less than a minute \(\d\d:\d\d UTC\) and lasts until \d\d:\d\d UTC\.$/);
    assert.equal(reminder.data.body, "Chat may reconnect once.");
    // A scheduler restarts between the reminder and the start: the new one must not remind again.
    await second.stop();
    second = startClock();

    const posts = await waitFor("three posts at the on-call webhook", () => (onCallPosts(window.id).length >= 3 ? onCallPosts(window.id) : undefined), 15_000, 25);
    const subscriber = await waitFor("three posts at the chat subscriber", () => (hookPosts(chatHook, window.id).length >= 3 ? hookPosts(chatHook, window.id) : undefined), 15_000, 25);
    const mails = await waitFor("three mails to the e-mail subscriber", () => (mailsAbout(window.id).length >= 3 ? mailsAbout(window.id) : undefined), 15_000, 25);
    await settle();

    assert.deepEqual(onCallPosts(window.id).map((p) => p.type), ["maintenance.reminder", "maintenance.started", "maintenance.completed"], "on-call: each once, in order");
    assert.equal(new Set(posts.map((p) => p.id)).size, 3, "three distinct webhook ids");
    assert.match(posts[1]!.data.text, /^Scheduled maintenance of Chat has started and lasts until \d\d:\d\d UTC\.$/);
    assert.equal(posts[2]!.data.text, "Scheduled maintenance of Chat is complete.");
    assert.deepEqual(posts.map((p) => [p.data.maintenance.status, p.data.urgency]), [["scheduled", "low"], ["in_progress", "low"], ["completed", "low"]]);
    assert.deepEqual(posts[0]!.data.maintenance.components, [{ id: "chat", name: "Chat" }]);
    assert.equal(posts[0]!.data.maintenance_url, `${PAGE_URL}/incidents/${window.id}`);

    assert.deepEqual(hookPosts(chatHook, window.id).map((b) => [b.incident!.status, b.incident!.impact]), [["scheduled", "maintenance"], ["in_progress", "maintenance"], ["completed", "maintenance"]], "subscriber: Statuspage's maintenance shape, each once, in order");
    assert.equal(subscriber[0]!.incident!.scheduled_for, window.scheduled_for);
    assert.ok(subscriber[0]!.incident!.scheduled_reminded_at, "the reminder says when it was sent");
    assert.equal(subscriber[1]!.incident!.incident_updates[0]!.status, "in_progress", "newest entry first");
    assert.equal(hookPosts(qaHook, window.id).length, 0, "a subscriber of Q&A only hears nothing of a Chat window");

    assert.equal(mailsAbout(window.id).length, 3, "three mails, no more");
    assert.deepEqual(mails.map((m) => m.subject), ["[Notices] Chat upgrade — Reminder", "[Notices] Chat upgrade — In progress", "[Notices] Chat upgrade — Completed"]);
    assert.match(mails[0]!.text, /Scheduled maintenance of Chat starts in less than a minute/);
    assert.match(mails[0]!.text, /Chat may reconnect once\./);
    assert.match(mails[2]!.text, /Scheduled maintenance of Chat is complete\./);

    assert.deepEqual(await outboxTypes(window.id), ["maintenance.reminder", "maintenance.started", "maintenance.completed"], "each notice written once, whatever the number of clocks");
    assert.equal(pager.requests.length, 0, "PagerDuty is never paged for maintenance");
    assert.equal(notifyLog.text().match(/"msg":"maintenance is planned and pages no one: nothing sent to PagerDuty"/g)?.length, 3, "the PagerDuty channel says, once per post, why it sent nothing");
    current = await configWith();
  });

  it("a window cancelled before its reminder sends nothing; one cancelled after its reminder sends the reminder and a cancellation, once each", async () => {
    const clock = startClock();
    stops.push(() => clock.stop());
    const quiet = (await scheduleMaintenance(status, { name: "Never mind", components: ["chat"], scheduled_for: iso(Date.now() + 3 * 60 * MINUTE), scheduled_until: iso(Date.now() + 4 * 60 * MINUTE), body: "Planned.", remind_before_minutes: 60, author: person })).maintenance;
    const reminded = (await scheduleMaintenance(status, { name: "Called off", components: ["chat"], scheduled_for: iso(Date.now() + 30 * MINUTE), scheduled_until: iso(Date.now() + 90 * MINUTE), body: "Planned too.", author: person })).maintenance;
    await clock.tick();
    await clock.tick();
    const reminder = await waitFor("the reminder of the window 30 minutes ahead", () => onCallPosts(reminded.id)[0], 10_000, 25);
    assert.match(reminder.data.text, /^Scheduled maintenance of Chat starts in 30 minutes \(/, "reminded at once: its start is closer than 60 minutes");

    await cancelMaintenance(status, { id: quiet.id, author: person });
    await cancelMaintenance(status, { id: reminded.id, author: person });
    await clock.tick();
    await waitFor("the cancellation at the on-call webhook", () => onCallPosts(reminded.id)[1], 10_000, 25);
    await waitFor("the cancellation at the subscriber", () => hookPosts(chatHook, reminded.id)[1], 10_000, 25);
    await settle();
    assert.deepEqual(await outboxTypes(quiet.id), [], "nothing written for the window cancelled before its reminder");
    assert.equal(onCallPosts(quiet.id).length + hookPosts(chatHook, quiet.id).length + mailsAbout(quiet.id).length, 0, "nobody is told of it");
    assert.deepEqual(onCallPosts(reminded.id).map((p) => p.type), ["maintenance.reminder", "maintenance.cancelled"]);
    const cancelled = onCallPosts(reminded.id)[1]!.data.text;
    assert.match(cancelled, /^Scheduled maintenance of Chat, planned for (\d{4}-\d\d-\d\d )?\d\d:\d\d UTC, has been cancelled\.$/);
    assert.ok(cancelled.includes(`${reminded.scheduled_for.slice(11, 16)} UTC`), cancelled);
    assert.deepEqual(hookPosts(chatHook, reminded.id).map((b) => b.incident!.status), ["scheduled", "completed"]);
    assert.deepEqual(mailsAbout(reminded.id).map((m) => m.subject), ["[Notices] Called off — Reminder", "[Notices] Called off — Cancelled"]);
  });

  it("a reminder read before its window started, was cancelled or moved is not written: the write checks the window is still as read", async () => {
    const { maintenance } = await scheduleMaintenance(status, { name: "Raced", components: ["chat"], scheduled_for: iso(Date.now() + 30 * MINUTE), scheduled_until: iso(Date.now() + 60 * MINUTE), body: "Planned.", author: person });
    const entry = { type: "maintenance.reminder" as const, id: "raced-reminder", maintenance: maintenance.id, seq: maintenance.revision, scheduled_for: maintenance.scheduled_for, scheduled_until: maintenance.scheduled_until, at: iso(Date.now()) };
    // Another scheduler moved it between this one's read and its write.
    await editMaintenance(status, { id: maintenance.id, scheduled_for: iso(Date.now() + 20 * MINUTE), author: person });
    assert.equal(await status.store.writeMaintenanceReminder(entry, maintenance.revision), "stale");
    assert.deepEqual(await outboxTypes(maintenance.id), []);
    const moved = (await status.store.maintenance(maintenance.id))!;
    const fresh = { ...entry, seq: moved.revision, scheduled_for: moved.scheduled_for };
    assert.equal(await status.store.writeMaintenanceReminder(fresh, moved.revision), "written");
    assert.equal(await status.store.writeMaintenanceReminder(fresh, moved.revision), "duplicate");
    assert.deepEqual(await outboxTypes(maintenance.id), ["maintenance.reminder"]);
    await cancelMaintenance(status, { id: maintenance.id, author: person });
  });

  it("a window whose whole time passed between two looks of the clock still starts before it completes, and both are announced in order", async () => {
    const { maintenance } = await scheduleMaintenance(status, { name: "Blink", components: ["chat"], scheduled_for: iso(Date.now() + 60 * MINUTE), scheduled_until: iso(Date.now() + 61 * MINUTE), body: "Quick swap.", remind_before_minutes: 0, author: person });
    // The first look after it was scheduled comes once it is over (a scheduler that slept through it, or was down).
    const changed = await advanceMaintenances(status, Date.now() + 62 * MINUTE);
    assert.deepEqual(changed.filter((m) => m.id === maintenance.id).map((m) => m.status), ["in_progress", "completed"]);
    const done = (await status.store.maintenance(maintenance.id))!;
    assert.deepEqual(done.updates.map((u) => u.status), ["scheduled", "in_progress", "completed"]);
    assert.deepEqual(await outboxTypes(maintenance.id), ["maintenance.started", "maintenance.completed"]);
  });

  it("an edited window's reminder follows its new time; remind_before 0 and notify off send nothing at all", async () => {
    const clock = startClock();
    stops.push(() => clock.stop());
    const moved = (await scheduleMaintenance(status, { name: "Moved", components: ["chat"], scheduled_for: iso(Date.now() + 3 * 60 * MINUTE), scheduled_until: iso(Date.now() + 4 * 60 * MINUTE), body: "Planned.", remind_before_minutes: 60, author: person })).maintenance;
    await clock.tick();
    const sooner = iso(Date.now() + 40 * MINUTE);
    await editMaintenance(status, { id: moved.id, scheduled_for: sooner, author: person });
    await clock.tick();
    await clock.tick();
    const reminder = await waitFor("the reminder for the new time", () => onCallPosts(moved.id)[0], 10_000, 25);
    assert.equal(reminder.data.maintenance.scheduled_for, sooner);
    assert.match(reminder.data.text, /^Scheduled maintenance of Chat starts in 40 minutes \(/);
    // Moved again after its reminder: people are reminded of the new time, once.
    const later = iso(Date.now() + 45 * MINUTE);
    await editMaintenance(status, { id: moved.id, scheduled_for: later, author: person });
    await clock.tick();
    await clock.tick();
    const again = await waitFor("the reminder for the time it moved to", () => onCallPosts(moved.id)[1], 10_000, 25);
    assert.equal(again.data.maintenance.scheduled_for, later);
    assert.match(again.data.text, /^Scheduled maintenance of Chat starts in 45 minutes \(/);

    const silent = (await scheduleMaintenance(status, { name: "Silent", components: ["chat"], scheduled_for: iso(Date.now() + 1_000), scheduled_until: iso(Date.now() + 2_000), body: "Quiet.", remind_before_minutes: 0, notify: false, author: person })).maintenance;
    await waitFor("the silent window to complete", async () => (await status.store.maintenance(silent.id))?.status === "completed", 10_000, 50);
    await settle();
    assert.deepEqual(await outboxTypes(moved.id), ["maintenance.reminder", "maintenance.reminder"], "one reminder per time it was given, none for the time it never kept");
    assert.equal(onCallPosts(moved.id).length, 2);
    assert.deepEqual(await outboxTypes(silent.id), []);
    assert.equal(onCallPosts(silent.id).length + hookPosts(chatHook, silent.id).length + mailsAbout(silent.id).length, 0);
  });
});
