import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import request from "supertest";
import { channelKinds } from "../../src/notify/index.ts";
import { bullPrefix, QUEUE, startNotifyWorker, startOutboxDispatcher, type DeadLetter } from "../../src/pipeline/index.ts";
import { appendUpdate, openIncident, resolveIncident, type Author, type Incident } from "../../src/status/index.ts";
import { testLog } from "../helpers/config.ts";
import { HttpReceiver, type RecordedRequest } from "../helpers/receivers.ts";
import { startWebRig, type WebRig } from "../helpers/web.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * What the README promises of on-call delivery, on real parts: the outbox
 * dispatcher and the notify worker on a real redis-server and BullMQ, real
 * HTTP receivers for the channels, and the admin API people use on the dead
 * letters and disabled channels. Each promise has its own component, routed
 * to its own channel (and receiver), so one test's answers never reach another.
 */

const TOKEN = "notify-promises-admin-token-0123";
const PERSON: Author = { kind: "person", name: "Ana Lima" };

interface WebhookBody {
  id: string;
  data: { incident: { id: string }; update: { id: string } };
}

const bodyOf = (r: RecordedRequest) => r.json as WebhookBody;
/** The requests a receiver got about one timeline entry (every attempt, in arrival order). */
const attemptsAt = (receiver: HttpReceiver, update: string) => receiver.requests.filter((r) => bodyOf(r).data.update.id === update);
/** The timeline entries a receiver got posts about for one incident, in arrival order. */
const updatesAt = (receiver: HttpReceiver, incident: Incident) => receiver.requests.filter((r) => bodyOf(r).data.incident.id === incident.id).map((r) => bodyOf(r).data.update.id);

describe("on-call delivery: dead letters, replay, Retry-After, 410 Gone (real redis-server, BullMQ, receivers, admin API)", { timeout: 90_000 }, () => {
  let rig: WebRig;
  let blocking: Redis;
  let queue: Queue;
  /** Receivers by channel: `steady` always takes posts, the others answer as each test scripts. */
  let dead: HttpReceiver;
  let slow: HttpReceiver;
  let gone: HttpReceiver;
  let steady: HttpReceiver;
  const stops: (() => Promise<void>)[] = [];

  const admin = (method: "get" | "post", path: string) => request(rig.app)[method](`/admin/api${path}`).set("authorization", `Bearer ${TOKEN}`);
  const deadLetters = async (): Promise<DeadLetter[]> => (await admin("get", "/notifications/dead").expect(200)).body.dead;
  const letterFor = async (channel: string, update: string) => (await deadLetters()).find((l) => l.channel === channel && "update" in l.job.event && l.job.event.update.id === update);
  const open = async (component: string, name: string) =>
    (await openIncident(rig.status, { name, body: `${name}: we are looking into it.`, components: { [component]: "partial_outage" }, author: PERSON })).incident;

  before(async () => {
    const receiver = () => HttpReceiver.start({ status: 204, body: "" });
    [dead, slow, gone, steady] = await Promise.all([receiver(), receiver(), receiver(), receiver()]);
    rig = await startWebRig(`
locations: [{ id: local }]
components:
  - { id: chat, name: Chat }
  - { id: search, name: Search }
  - { id: video, name: Video }
notifications:
  # Backoff far below Retry-After's 2 s, so only the receiver's hint can explain a 2 s wait.
  retry_base: 100ms
  retry_max: 200ms
  attempts: 2
  channels:
    - { id: dead-hook, kind: webhook, url: "${dead.url("/hooks/dead")}" }
    - { id: slow-hook, kind: webhook, url: "${slow.url("/hooks/slow")}" }
    - { id: gone-hook, kind: webhook, url: "${gone.url("/hooks/gone")}" }
    - { id: steady, kind: webhook, url: "${steady.url("/hooks/steady")}" }
  routes:
    - { channels: [dead-hook, steady], components: [chat] }
    - { channels: [slow-hook], components: [search] }
    - { channels: [gone-hook, steady], components: [video] }
`, { tokens: [TOKEN] });
    blocking = new Redis(rig.redis.url, { maxRetriesPerRequest: null });
    queue = new Queue(QUEUE.notify, { connection: rig.connection, prefix: bullPrefix(rig.config.redis.prefix) });
    const log = testLog();
    // The worker role's delivery pieces, wired as src/roles/worker.ts wires them.
    const outbox = startOutboxDispatcher({ config: () => rig.config, status: rig.status, connection: rig.connection, log });
    const notify = startNotifyWorker({ config: () => rig.config, status: rig.status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
    stops.push(() => outbox.close(), () => notify.close(), () => queue.close());
  });

  after(async () => {
    for (const stop of stops) await stop();
    blocking?.disconnect();
    await rig?.stop();
    await Promise.all([dead, slow, gone, steady].map((r) => r?.stop()));
  });

  it("dead-letters a post whose receiver answered 503 to both attempts, delivers the incident's next post, lists the letter, and replays it once", async () => {
    dead.answer({ status: 503, body: "upstream unavailable" }, 2);
    const incident = await open("chat", "Chat delays");
    const opened = incident.updates[0]!.id;

    const letter = await waitFor("the opened post in the dead-letter list", () => letterFor("dead-hook", opened), 10_000, 50);
    assert.equal(letter.attempts, 2, "given up on after the configured 2 attempts");
    assert.match(letter.reason, /^Webhook at 127\.0\.0\.1:\d+ answered HTTP 503: upstream unavailable$/);
    assert.equal(attemptsAt(dead, opened).length, 2, "the receiver saw both attempts, and no third");

    const { incident: updated } = await appendUpdate(rig.status, { id: incident.id, status: "identified", body: "A slow cache node; failing over.", author: PERSON });
    const next = updated.updates[1]!.id;
    await waitFor("the incident's next post at the recovered receiver", () => attemptsAt(dead, next).length > 0, 10_000, 50);
    assert.deepEqual(updatesAt(dead, incident), [opened, opened, next], "the next post went on without the dead-lettered one");
    await waitFor("both posts at the steady channel", () => updatesAt(steady, incident).length >= 2, 10_000, 50);
    assert.deepEqual(updatesAt(steady, incident), [opened, next], "the other channel got both, in order");
    assert.deepEqual((await deadLetters()).map((l) => l.id), [letter.id], "only the given-up post is a dead letter");

    const replayed = await admin("post", `/notifications/dead/${letter.id}/replay`).expect(200);
    assert.deepEqual(replayed.body, { replayed: letter.id, channel: "dead-hook" });
    // The replay job ending is what says nothing more is coming: then the receiver's count is final.
    const job = await waitFor("the replay job", () => queue.getJob(`${opened}.dead-hook.replay.${letter.id}`), 5_000, 50);
    await waitFor("the replay job to finish", async () => (await job.getState()) === "completed", 10_000, 50);
    assert.deepEqual((await queue.getJob(job.id!))?.returnvalue, { outcome: "delivered" });
    await waitFor("no post still on its way", async () => Object.values(await queue.getJobCounts("waiting", "active", "delayed", "prioritized")).every((n) => n === 0), 10_000, 50);
    const copies = attemptsAt(dead, opened);
    assert.equal(copies.length, 3, "two failed attempts, then exactly one replayed delivery");
    assert.equal(copies[2]!.headers["webhook-id"], `msg_${opened}`, "the replay carries the post's own id, for receivers to de-dupe");
    assert.deepEqual(await deadLetters(), [], "a replayed letter leaves the list");
    await admin("post", `/notifications/dead/${letter.id}/replay`).expect(404);
  });

  it("waits what a 429's Retry-After: 2 asks before the next attempt, with the post delayed in the queue meanwhile", async () => {
    slow.answer({ status: 429, headers: { "retry-after": "2" }, body: "slow down" }, 1);
    const incident = await open("search", "Search is slow");
    const opened = incident.updates[0]!.id;
    await waitFor("the first attempt", () => attemptsAt(slow, opened).length >= 1, 10_000, 20);
    const job = (await queue.getJob(`${opened}.slow-hook`))!;
    await waitFor("the post to wait in the queue as a delayed job", async () => (await job.getState()) === "delayed", 1_500, 20);
    await waitFor("the second attempt", () => attemptsAt(slow, opened).length >= 2, 10_000, 20);
    const [first, second] = attemptsAt(slow, opened);
    const gapMs = second!.at - first!.at;
    console.log(`# Retry-After: 2 → ${gapMs} ms between the attempts at the receiver`);
    // The wait starts once the 429 is read, after the first arrival: 2000 ms is a floor (50 ms for clock rounding).
    assert.ok(gapMs >= 1_950, `the second attempt came ${gapMs} ms after the first; Retry-After asked for 2000 ms`);
    assert.ok(gapMs < 8_000, `the second attempt came ${gapMs} ms after the first, far more than the 2000 ms asked`);
    await waitFor("the job to finish", async () => (await job.getState()) === "completed", 5_000, 50);
    assert.equal(await letterFor("slow-hook", opened), undefined, "delivered on the second attempt, not dead-lettered");
  });

  it("disables a channel whose receiver answered 410 Gone: listed as disabled, the incident's later posts never reach it until it is enabled", async () => {
    // Only the first answer is 410: were the channel not disabled, every later post would be taken.
    gone.answer({ status: 410, body: "this hook was deleted" }, 1);
    const incident = await open("video", "Video calls drop");
    const opened = incident.updates[0]!.id;
    await waitFor("the channel in the disabled list", async () => (await admin("get", "/notifications/channels/disabled").expect(200)).body.disabled.includes("gone-hook"), 10_000, 50);
    assert.deepEqual((await admin("get", "/notifications/channels/disabled").expect(200)).body, { disabled: ["gone-hook"] });
    const letter = await waitFor("the 410'd post in the dead-letter list", () => letterFor("gone-hook", opened), 5_000, 50);
    assert.equal(letter.attempts, 1, "410 is not retried");
    assert.match(letter.reason, /answered HTTP 410: this hook was deleted \(the receiver asked to stop sending\)$/);

    const { incident: updated } = await appendUpdate(rig.status, { id: incident.id, status: "identified", body: "A bad media relay; draining it.", author: PERSON });
    const next = updated.updates[1]!.id;
    // The post was handled (dead-lettered, and delivered to the channel beside it): nothing is still on its way.
    const held = await waitFor("the next post dead-lettered for the disabled channel", () => letterFor("gone-hook", next), 10_000, 50);
    assert.match(held.reason, /the channel is disabled \(its receiver answered 410 Gone\); enable it to deliver/);
    await waitFor("the next post at the steady channel", () => updatesAt(steady, incident).includes(next), 10_000, 50);
    assert.deepEqual(updatesAt(gone, incident), [opened], "the disabled channel's receiver got nothing after its 410");

    await admin("post", "/notifications/channels/gone-hook/enable").expect(200, { channel: "gone-hook", enabled: true });
    assert.deepEqual((await admin("get", "/notifications/channels/disabled").expect(200)).body, { disabled: [] });
    const { incident: resolved } = await resolveIncident(rig.status, { id: incident.id, body: "Calls hold again.", author: PERSON });
    const last = resolved.updates.at(-1)!.id;
    await waitFor("the post after enabling at the receiver", () => updatesAt(gone, incident).includes(last), 10_000, 50);
    assert.deepEqual(updatesAt(gone, incident), [opened, last]);
  });
});
