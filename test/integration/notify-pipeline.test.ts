import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { freePort } from "../../src/core/index.ts";
import type { GatewayNode } from "../../src/gateway/index.ts";
import { channelKinds, type NotificationType } from "../../src/notify/index.ts";
import {
  bullPrefix,
  QUEUE,
  readPublishedMetrics,
  RoleMetrics,
  startNotifyWorker,
  startOutboxDispatcher,
  type DeadLetter,
} from "../../src/pipeline/index.ts";
import { appendUpdate, onCallText, openIncident, resolveIncident, StatusStore, type Author, type Incident, type StatusContext } from "../../src/status/index.ts";
import { configFrom, testLog } from "../helpers/config.ts";
import { startTestNode } from "../helpers/gateway.ts";
import { metricValue } from "../helpers/prometheus.ts";
import { captureLog, HttpReceiver, SmtpReceiver, type RecordedMail, type RecordedRequest } from "../helpers/receivers.ts";
import { startRedis, uniquePrefix, type TestRedis } from "../helpers/redis.ts";
import { startProbePipeline } from "../helpers/pipeline.ts";
import { waitFor } from "../helpers/wait.ts";

/**
 * On-call notifications on real parts end to end: a real gateway node is
 * probed, its outage opens an incident, the outbox turns each timeline entry
 * into posts, and real receivers (HTTP for webhook, Slack, PagerDuty and
 * Discord; SMTP for e-mail) get them. What each receiver got is mapped back
 * to timeline entries, so a lost, doubled or reordered post fails a test.
 */

/** One post as a receiver got it, mapped back to the timeline entry it announces. */
interface Post {
  incident: string;
  /** The timeline entry's id, or what could not be matched (which fails the comparison). */
  update: string;
  type: NotificationType;
}

type Channel = "oncall-hook" | "slack" | "pagerduty" | "email";
const ROUTED: Channel[] = ["oncall-hook", "slack", "pagerduty", "email"];

const WEBHOOK_SECRET = `whsec_${Buffer.from("notify-pipeline-secret-32-bytes!").toString("base64")}`;
const ROUTING_KEY = "PiPeLiNeRoUtInGkEy0123456789abcd";
const TYPE_OF_LABEL: Record<string, NotificationType> = {
  "Incident opened": "incident.opened",
  "Incident updated": "incident.updated",
  "Incident resolved": "incident.resolved",
};
/** Slack's fallback text is on one line. */
const squash = (text: string) => text.replace(/\s+/g, " ");
const slackEscape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The id of the entry of `incident` whose on-call text `contains` finds in a post's text. */
function entryByBody(incident: Incident | undefined, contains: (body: string) => boolean): string {
  const found = incident?.updates.filter((u) => contains(onCallText(u))) ?? [];
  return found.length === 1 ? found[0]!.id : `unmatched(${found.length})`;
}

function eventTypeOf(summaryLine: string): NotificationType {
  const label = /^(Incident \w+):/.exec(summaryLine)?.[1] ?? "";
  return TYPE_OF_LABEL[label] ?? ("unknown" as NotificationType);
}

describe("notifications through the whole pipeline (real redis-server, BullMQ, gateway, receivers)", { timeout: 120_000 }, () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;
  let config: Config;
  let status: StatusContext;
  let gateway: GatewayNode | undefined;
  let gatewayPort: number;
  let hook: HttpReceiver;
  let slack: HttpReceiver;
  let pagerduty: HttpReceiver;
  let smtp: SmtpReceiver;
  let cacheOnly: HttpReceiver;
  let notifyQueue: Queue;
  /** The counters the worker and agent pieces keep, as the roles publish them. */
  const metrics = new RoleMetrics("test", { instance: "pipeline-test", runtime: false });
  const stops: (() => Promise<void>)[] = [];
  /** Incidents by id, as last read: receivers' posts are matched against their timelines. */
  const known = new Map<string, Incident>();

  const startGateway = async (): Promise<void> => {
    gateway = (await startTestNode({ override: (o) => ({ ...o, port: gatewayPort }) })).node;
  };
  const stopGateway = async (): Promise<void> => {
    await gateway!.stop();
    gateway = undefined;
  };

  const webhookPost = (r: RecordedRequest): Post => {
    const body = r.json as { id: string; type: NotificationType; data: { incident: { id: string }; update: { id: string } } };
    assert.equal(r.headers["webhook-id"], body.id, "the webhook-id header is the payload's id");
    assert.equal(body.id, `msg_${body.data.update.id}`, "the message id is derived from the timeline entry");
    return { incident: body.data.incident.id, update: body.data.update.id, type: body.type };
  };
  const slackPost = (r: RecordedRequest): Post => {
    const body = r.json as { text: string; blocks: { text?: { text: string } }[] };
    const link = body.blocks.map((b) => b.text?.text ?? "").find((t) => t.includes("/incidents/")) ?? "";
    const incident = /\/incidents\/([^|>]+)\|/.exec(link)?.[1] ?? "no-link";
    return { incident, update: entryByBody(known.get(incident), (b) => squash(body.text).includes(squash(slackEscape(b)))), type: eventTypeOf(body.text) };
  };
  const pagerdutyPost = (r: RecordedRequest): Post => {
    const body = r.json as { routing_key: string; event_action: string; dedup_key: string; payload: { custom_details: { update: string; event: NotificationType } } };
    assert.equal(body.routing_key, ROUTING_KEY);
    const incident = body.dedup_key.replace(/^pulseboard-/, "");
    const { update, event } = body.payload.custom_details;
    assert.equal(body.event_action, event === "incident.resolved" ? "resolve" : "trigger", `${event} is sent as ${body.event_action}`);
    return { incident, update: entryByBody(known.get(incident), (b) => b === update), type: event };
  };
  const emailPost = (m: RecordedMail): Post => {
    const incident = m.headers.get("x-pulseboard-incident") ?? "no-header";
    const messageId = m.headers.get("message-id") ?? "";
    const update = /<pulseboard\.msg_([^@]+)@/.exec(messageId)?.[1] ?? entryByBody(known.get(incident), (b) => squash(m.text).includes(squash(b)));
    return { incident, update, type: eventTypeOf(m.text) };
  };

  /** What each routed channel's receiver got so far, in arrival order. */
  const received = (): Record<Channel, Post[]> => ({
    "oncall-hook": hook.requests.map(webhookPost),
    slack: slack.requests.map(slackPost),
    pagerduty: pagerduty.requests.map(pagerdutyPost),
    email: smtp.messages.map(emailPost),
  });

  /** The posts a channel must have got for `incident`: one per timeline entry, in timeline order. */
  const expected = (incident: Incident): Pick<Post, "update" | "type">[] =>
    incident.updates.map((u, i) => ({
      update: u.id,
      type: i === 0 ? "incident.opened" : u.status === "resolved" ? "incident.resolved" : "incident.updated",
    }));

  const postsOf = (posts: Post[], incident: string) => posts.filter((p) => p.incident === incident).map(({ update, type }) => ({ update, type }));

  const refresh = async (): Promise<Incident[]> => {
    const incidents = await status.store.recentIncidents(10);
    for (const incident of incidents) known.set(incident.id, incident);
    return incidents;
  };

  const waitForStatus = async (id: string, wanted: Incident["status"], timeoutMs = 10_000): Promise<Incident> =>
    waitFor(`incident ${id} to be ${wanted}`, async () => (await refresh()).find((i) => i.id === id && i.status === wanted), timeoutMs, 50);

  const waitForNewIncident = async (previous: string[]): Promise<Incident> =>
    waitFor("a new automatic incident", async () => (await refresh()).find((i) => !previous.includes(i.id)), 10_000, 50);

  /** Waits until every channel in `channels` got `count` posts about `incident`, then a little more for strays. */
  const deliveredToAll = async (incident: string, count: number, channels: Channel[] = ROUTED): Promise<Record<Channel, Post[]>> => {
    await waitFor(`${count} posts about ${incident} at ${channels.join(", ")}`, () => {
      const posts = received();
      return channels.every((c) => postsOf(posts[c], incident).length >= count);
    }, 15_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 600));
    return received();
  };

  const deadLetters = async (): Promise<DeadLetter[]> =>
    (await commands.lrange(`${status.store.keys.prefix}:notify:dead`, 0, -1)).map((json) => JSON.parse(json) as DeadLetter);

  before(async () => {
    redis = await startRedis();
    gatewayPort = await freePort();
    await startGateway();
    [hook, slack, pagerduty, cacheOnly] = await Promise.all([
      HttpReceiver.start({ status: 204, body: "" }),
      HttpReceiver.start({ status: 200, body: "ok" }),
      HttpReceiver.start({ status: 202, body: { status: "success", message: "Event processed" } }),
      HttpReceiver.start({ status: 204, body: "" }),
    ]);
    smtp = await SmtpReceiver.start();
    config = await configFrom(`
redis: { prefix: ${uniquePrefix("notipipe")} }
page: { name: Pipeline Status, url: "https://status.pipeline.example" }
evaluation: { quiet_period: 1s, flap_window: 1m, flap_changes: 20 }
locations: [{ id: local }]
components:
  - { id: realtime-gateway, name: Realtime gateway }
  - { id: cache, name: Cache }
probes:
  - id: gateway-connect
    kind: websocket
    interval: 1s
    timeout: 800ms
    fail_after: 1
    recover_after: 1
    components: [realtime-gateway]
    with: { url: "ws://127.0.0.1:${gatewayPort}/ws", channel: probe.test }
  - { id: cache-ping, kind: redis, interval: 1s, timeout: 800ms, components: [cache] }
notifications:
  retry_base: 200ms
  retry_max: 1s
  attempts: 40
  channels:
    - { id: oncall-hook, kind: webhook, url: "${hook.url("/hooks/pulseboard")}", secret: "${WEBHOOK_SECRET}" }
    - { id: slack, kind: slack, url: "${slack.url("/services/T0PIPE01/B0PIPE02/pipelineSlackToken")}" }
    - { id: pagerduty, kind: pagerduty, routing_key: ${ROUTING_KEY}, url: "${pagerduty.url("/v2/enqueue")}" }
    - { id: email, kind: email, host: 127.0.0.1, port: ${smtp.port}, starttls: false, from: "Pulseboard <status@pipeline.example>", to: [oncall@pipeline.example] }
    - { id: cache-discord, kind: discord, url: "${cacheOnly.url("/api/webhooks/123456789012345678/pipelineDiscordToken")}" }
  routes:
    - { channels: [oncall-hook, slack, pagerduty, email], components: [realtime-gateway] }
    - { channels: [cache-discord], components: [cache] }
`, { REDIS_URL: redis.url, CACHE_REDIS_URL: redis.url });
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    status = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    notifyQueue = new Queue(QUEUE.notify, { connection: commands, prefix: bullPrefix(config.redis.prefix) });
    const log = testLog();
    // The worker role's pieces, wired as src/roles/worker.ts wires them.
    const pipeline = await startProbePipeline({ config, status, commands, blocking, metrics, log });
    const outbox = startOutboxDispatcher({ config: () => config, status, connection: commands, log });
    const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log, metrics });
    stops.push(pipeline, () => outbox.close(), () => notify.close(), () => notifyQueue.close());
    await waitFor("both components to be evaluated operational", async () => {
      const components = await status.store.components();
      return components.get("realtime-gateway")?.status === "operational" && components.get("cache")?.status === "operational";
    }, 15_000);
  });

  after(async () => {
    for (const stop of stops) await stop();
    await gateway?.stop();
    await Promise.all([hook.stop(), slack.stop(), pagerduty.stop(), cacheOnly.stop(), smtp.stop()]);
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  let first: Incident;

  it("a stopped gateway opens one incident: each routed channel gets one opened post, the cache-only channel nothing", async () => {
    await stopGateway();
    first = await waitForNewIncident([]);
    assert.equal(first.status, "investigating");
    assert.deepEqual(first.components, { "realtime-gateway": "major_outage" });
    const posts = await deliveredToAll(first.id, 1);
    assert.equal((await refresh()).length, 1, "exactly one incident");
    for (const channel of ROUTED) {
      assert.deepEqual(posts[channel], [{ incident: first.id, update: first.updates[0]!.id, type: "incident.opened" }], `${channel} got exactly the opened post`);
    }
    const alerts = pagerduty.requests.map((r) => r.json as { event_action: string; dedup_key: string });
    assert.deepEqual(alerts.map((a) => [a.event_action, a.dedup_key]), [["trigger", `pulseboard-${first.id}`]]);
    assert.equal(smtp.messages[0]!.headers.get("message-id"), `<pulseboard.incident.${first.id}@status.pipeline.example>`, "the opened mail starts the incident's thread");
    assert.equal(cacheOnly.requests.length, 0, "the channel routed only for cache got nothing");
  });

  it("the gateway coming back moves the incident to monitoring, then resolved: every channel gets each entry once, in timeline order", async () => {
    await startGateway();
    const resolved = await waitForStatus(first.id, "resolved");
    assert.deepEqual(resolved.updates.map((u) => u.status), ["investigating", "monitoring", "resolved"]);
    const posts = await deliveredToAll(first.id, 3);
    for (const channel of ROUTED) {
      assert.deepEqual(postsOf(posts[channel], first.id), expected(resolved), `${channel}: each entry once, in order`);
    }
    const alerts = pagerduty.requests.map((r) => r.json as { event_action: string; dedup_key: string });
    assert.deepEqual(alerts.map((a) => a.event_action), ["trigger", "trigger", "resolve"]);
    assert.deepEqual(new Set(alerts.map((a) => a.dedup_key)), new Set([`pulseboard-${first.id}`]), "one dedup_key for the whole incident");
    for (const mail of smtp.messages.slice(1)) assert.equal(mail.headers.get("in-reply-to"), `<pulseboard.incident.${first.id}@status.pipeline.example>`, "updates answer the thread");
    assert.equal(cacheOnly.requests.length, 0, "the channel routed only for cache still got nothing");
    assert.deepEqual(await deadLetters(), []);
  });

  it("a receiver down through a whole incident gets every post once it is back: in order, none twice, none dead-lettered", async () => {
    await hook.stop();
    const hookBefore = hook.requests.length;
    await stopGateway();
    const second = await waitForNewIncident([first.id]);
    await startGateway();
    const resolved = await waitForStatus(second.id, "resolved");
    assert.deepEqual(resolved.updates.map((u) => u.status), ["investigating", "monitoring", "resolved"]);
    // The other channels do not wait for the one that is down.
    const others = await deliveredToAll(second.id, 3, ["slack", "pagerduty", "email"]);
    for (const channel of ["slack", "pagerduty", "email"] as const) {
      assert.deepEqual(postsOf(others[channel], second.id), expected(resolved), `${channel}: each entry once, in order`);
    }
    assert.equal(hook.requests.length, hookBefore, "nothing reached the stopped receiver");
    // Down a few seconds more, so every post has failed and been retried by now.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const opened = await notifyQueue.getJob(`${resolved.updates[0]!.id}.oncall-hook`);
    assert.ok(opened && opened.attemptsMade >= 2, `the opened post was tried and retried while the receiver was down (attempts made: ${opened?.attemptsMade})`);
    await hook.restart();
    const restartedAt = Date.now();
    await deliveredToAll(second.id, 3, ["oncall-hook"]);
    const caughtUp = Date.now() - restartedAt;
    assert.ok(caughtUp < 10_000, `caught up ${caughtUp} ms after the receiver came back (retry_max is 1 s; expected 1-2 s)`);
    // Long enough for a stray retry or a second copy to arrive.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const posts = received();
    assert.deepEqual(postsOf(posts["oncall-hook"], second.id), expected(resolved), "the webhook got each entry once, in timeline order");
    const ids = hook.requests.map((r) => r.headers["webhook-id"]);
    assert.equal(new Set(ids).size, ids.length, `no webhook-id twice: ${ids.join(", ")}`);
    assert.deepEqual(postsOf(posts["oncall-hook"], first.id), expected(known.get(first.id)!), "the first incident's posts were not sent again");
    assert.deepEqual(await deadLetters(), [], "nothing was dead-lettered");
    assert.equal(cacheOnly.requests.length, 0, "the channel routed only for cache got nothing, all along");
  });

  it("the counters the worker and agent publish for /metrics agree with what the receivers and the timeline saw", async () => {
    metrics.publish(commands, config.redis.prefix, testLog());
    await metrics.publishOnce();
    const published = await readPublishedMetrics(commands, config.redis.prefix);
    const text = await published.registry.metrics();
    const own = await metrics.registry.metrics();
    assert.equal(metricValue(text, "pulseboard_notification_attempts_total"), metricValue(own, "pulseboard_notification_attempts_total"), "the published snapshot reads back as the process's own counters");
    const attempts = (channel: string, outcome: string) => metricValue(text, "pulseboard_notification_attempts_total", { channel, outcome, instance: "pipeline-test" }) ?? 0;
    const hookPosts = hook.requests.length;
    assert.equal(attempts("oncall-hook", "delivered"), hookPosts, "one delivered attempt per post the webhook got");
    assert.equal(attempts("slack", "delivered"), slack.requests.length);
    assert.equal(attempts("pagerduty", "delivered"), pagerduty.requests.length);
    assert.equal(attempts("email", "delivered"), smtp.messages.length);
    assert.ok(attempts("oncall-hook", "retry") >= 3, `every post to the stopped receiver was retried (retries counted: ${attempts("oncall-hook", "retry")})`);
    assert.equal(attempts("slack", "retry"), 0, "the receivers that stayed up needed no retry");
    assert.equal(metricValue(text, "pulseboard_notification_attempts_total", { outcome: "dead_lettered" }) ?? 0, 0);
    assert.equal(metricValue(text, "pulseboard_jobs_total", { queue: "notify", result: "failed" }), attempts("oncall-hook", "retry"), "each retry is a failed notify job");

    const event = (name: string) => metricValue(text, "pulseboard_incident_events_total", { event: name }) ?? 0;
    assert.deepEqual([event("opened"), event("monitoring"), event("resolved"), event("relapse")], [2, 2, 2, 0], "two incidents, each opened, monitored and resolved once");
    assert.equal(metricValue(text, "pulseboard_component_changes_total", { component: "realtime-gateway", status: "major_outage" }), 2);
    assert.ok((metricValue(text, "pulseboard_probe_runs_total", { location: "local", status: "ok" }) ?? 0) > 0);
    assert.ok((metricValue(text, "pulseboard_probe_runs_total", { location: "local", status: "failed" }) ?? 0) > 0, "the gateway's outages show as failed runs");
    assert.ok((metricValue(text, "pulseboard_job_duration_seconds_count", { queue: "evaluate" }) ?? 0) > 0, "evaluate jobs are timed");
    assert.equal(published.instances.get("test"), 1);

    await metrics.close();
    assert.equal((await readPublishedMetrics(commands, config.redis.prefix)).instances.size, 0, "a process that stops withdraws its snapshot");
  });
});

describe("the outbox when queueing a post fails after its place was claimed (real redis-server, BullMQ, receiver)", () => {
  let redis: TestRedis;
  let blocking: Redis;
  let commands: Redis;
  let hook: HttpReceiver;
  const stops: (() => Promise<void>)[] = [];

  before(async () => {
    redis = await startRedis();
    blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
    commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    hook = await HttpReceiver.start({ status: 204, body: "" });
  });
  after(async () => {
    for (const stop of stops) await stop();
    await hook.stop();
    blocking.disconnect();
    commands.disconnect();
    await redis.stop();
  });

  /** A config with its own prefix and one webhook channel, its status context, and the dispatcher and notify worker over it. */
  async function rig(name: string, beforeStart: (status: StatusContext) => Promise<void> = async () => {}) {
    const config = await configFrom(`
redis: { prefix: ${uniquePrefix(name)} }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }]
notifications:
  retry_base: 200ms
  retry_max: 1s
  channels:
    - { id: oncall-hook, kind: webhook, url: "${hook.url("/hooks/pulseboard")}" }
`, { REDIS_URL: redis.url });
    const status: StatusContext = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
    await beforeStart(status);
    const logs = captureLog();
    const outbox = startOutboxDispatcher({ config: () => config, status, connection: commands, log: logs.log });
    const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log: testLog() });
    stops.push(() => outbox.close(), () => notify.close());
    return { config, status, logs };
  }

  it("keeps trying when it cannot set up its consumer group at start, and delivers once it can", async () => {
    // The outbox key holding a string makes creating the group fail, as a Redis that is unreachable at start does.
    let outboxKey = "";
    const { status, logs } = await rig("group", async (s) => {
      outboxKey = s.store.keys.outbox;
      await commands.set(outboxKey, "not a stream");
    });
    await waitFor("the dispatcher to fail setting up", () => logs.text().includes("outbox dispatch failed"), 5_000, 20);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    assert.ok(logs.text().split("outbox dispatch failed").length > 2, "it tried again rather than giving up");
    await commands.del(outboxKey);
    const before = hook.requests.length;
    const { incident } = await openIncident(status, { name: "Late start", body: "The dispatcher came up before its Redis.", components: {}, author: { kind: "person", name: "Ana Lima" } });
    await waitFor("the post at the webhook", () => hook.requests.slice(before).some((r) => (r.json as { data: { incident: { id: string } } }).data.incident.id === incident.id), 10_000, 50);
  });

  it("queues the post when the dispatcher reads its entry again, and the incident's later posts follow it", async () => {
    const { config, status, logs } = await rig("claim");
    // BullMQ's job counter holding a non-number makes the next add fail before it writes anything:
    // a Redis error (or a crash) right after the dispatcher claimed the post's place in the channel's order.
    const counter = `${bullPrefix(config.redis.prefix)}:${QUEUE.notify}:id`;
    await commands.set(counter, "not-a-number");
    const person: Author = { kind: "person", name: "Ana Lima" };
    const { incident } = await openIncident(status, { name: "Chat delays", body: "Messages arrive late.", components: { chat: "degraded_performance" }, author: person });
    await waitFor("the dispatcher to fail queueing the post", () => logs.text().includes("outbox dispatch failed"), 5_000, 20);
    await commands.del(counter);
    await appendUpdate(status, { id: incident.id, status: "identified", body: "A slow cache node; failing over.", author: person });
    await resolveIncident(status, { id: incident.id, body: "Messages flow on time again.", author: person });
    const mine = () => hook.requests.filter((r) => (r.json as { data: { incident: { id: string } } }).data.incident.id === incident.id);
    await waitFor("the three posts at the webhook", () => mine().length >= 3, 10_000, 50);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const final = (await status.store.incident(incident.id))!;
    const got = mine().map((r) => (r.json as { data: { update: { id: string } } }).data.update.id);
    assert.deepEqual(got, final.updates.map((u) => u.id), "each entry once, in timeline order: the failed one was queued on the retry");
  });
});
