import { Queue } from "bullmq";
import { Redis } from "ioredis";
import request from "supertest";
import type { Config } from "../../src/config/index.ts";
import { newId } from "../../src/core/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import {
  bullPrefix,
  NotificationControl,
  ProbeControl,
  QUEUE,
  startEvaluator,
  startIncidentWorker,
  startNotifyWorker,
  startOutboxDispatcher,
  type EvaluateJob,
} from "../../src/pipeline/index.ts";
import type { ProbeResult, ProbeStatus } from "../../src/probe-runtime/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { QueuedConfirmations, SubscriberStore, startSubscriberDelivery, startSubscriberDispatcher } from "../../src/subscriptions/index.ts";
import { AdminAuth, createWebApp, SnapshotService, StatuspageMapper, subscriptionsRouter, type WebApp } from "../../src/web/index.ts";
import { configFrom, testLog } from "./config.ts";
import { HttpReceiver } from "./receivers.ts";
import { uniquePrefix, type TestRedis } from "./redis.ts";
import { waitFor } from "./wait.ts";

/** A webhook body as Statuspage sends it to a subscriber. */
export interface SubscriberHook {
  incident?: { id: string; name: string; status: string; incident_updates: { id: string; status: string; body: string }[] };
  component_update?: { component_id: string; old_status: string; new_status: string; created_at: string };
  subscription_confirmation?: { confirm_url: string };
}

/** An on-call webhook post (src/notify/webhook.ts). */
export interface OnCallPost {
  type: string;
  data: { incident: { id: string; status: string }; update: { id: string; status: string; body: string; author: { name: string } } };
}

/**
 * The whole path of an automatic incident on one redis-server, wired as
 * the worker and web roles wire it: the evaluator and incident worker (fed
 * results through the evaluate queue, as agents feed them), on-call posts
 * to a webhook receiver, one confirmed webhook subscriber, and the web app
 * with its snapshot (refresh it to see what changed).
 */
export interface IncidentStack {
  config: Config;
  status: StatusContext;
  app: WebApp;
  snapshot: SnapshotService;
  oncall: HttpReceiver;
  subscriber: HttpReceiver;
  token: string;
  /** One round of chat-echo results at location `local`, taken in by the pipeline. */
  round(outcome: ProbeStatus): Promise<void>;
  /** Stops the incident worker the stack started (as a crash or a deploy would). */
  stopIncidentWorker(): Promise<void>;
  /** Starts another incident worker on the same queues (another replica). */
  startIncidentWorker(): { close(): Promise<void> };
  incidentsQueue(): Queue;
  oncallPosts(incident?: string): OnCallPost[];
  subscriberPosts(incident?: string): SubscriberHook[];
  componentPosts(component: string): SubscriberHook[];
  stop(): Promise<void>;
}

export async function startIncidentStack(redis: TestRedis, options: { incidents: string }): Promise<IncidentStack> {
  const oncall = await HttpReceiver.start({ status: 204, body: "" });
  const subscriber = await HttpReceiver.start({ status: 200, body: "ok" });
  try {
    return await wire(redis, options, oncall, subscriber);
  } catch (err) {
    // A stack that could not start leaves nothing listening behind it.
    await Promise.all([oncall.stop(), subscriber.stop()]);
    throw err;
  }
}

async function wire(redis: TestRedis, options: { incidents: string }, oncall: HttpReceiver, subscriber: HttpReceiver): Promise<IncidentStack> {
  const token = "review-admin-token-0123456789";
  const config = await configFrom(`
redis: { prefix: ${uniquePrefix("review")} }
page: { name: Review Status, url: "https://status.review.example" }
evaluation: { quiet_period: 1s, flap_window: 1m, flap_changes: 20 }
incidents: ${options.incidents}
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: qa, name: Q&A }]
probes:
  - { id: chat-echo, kind: websocket, interval: 1s, timeout: 500ms, fail_after: 1, recover_after: 1, components: [chat] }
notifications:
  retry_base: 100ms
  retry_max: 300ms
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/oncall")}" }
subscriptions:
  rate_limit: { requests: 1000, per: 1m }
`, { REDIS_URL: redis.url });
  const log = testLog();
  const blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
  const commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const status: StatusContext = { store: new StatusStore(commands, config.redis.prefix), components: config.components, publish: config.incidents.publish };
  const stops: (() => Promise<void>)[] = [];

  const evaluator = startEvaluator({ config, status, connection: blocking, log });
  let incidents: { close(): Promise<void> } | undefined = startIncidentWorker({ config, status, connection: blocking, log });
  const outbox = startOutboxDispatcher({ config: () => config, status, connection: commands, log });
  const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
  const store = new SubscriberStore(commands, config.redis.prefix);
  const shapes = new StatuspageMapper(config);
  const dispatch = startSubscriberDispatcher({ config: () => config, status, store, shapes, connection: commands, log });
  const delivery = startSubscriberDelivery({ config: () => config, status, store, shapes, connection: blocking, log });
  const confirmations = new QueuedConfirmations({ config: () => config, connection: commands });
  const snapshot = SnapshotService.forStore(status, () => config, { refreshMs: 60_000, log });
  await snapshot.start();
  const probes = new ProbeControl({ config: () => config, connection: commands, store: status.store, log });
  const notifications = new NotificationControl({ config: () => config, connection: commands, store: status.store });
  const auth = AdminAuth.forRedis(commands, config.redis.prefix, [token]);
  const subscriptions = subscriptionsRouter({ ctx: { store, config: () => config, confirmations }, auth, log });
  const app = createWebApp({ config, status, snapshot, adminTokens: [token], auth, ready: () => status.store.ping(), probes, notifications, subscriptions, log });
  stops.push(() => evaluator.close(), () => outbox.close(), () => notify.close(), () => dispatch.close(), () => delivery.close(), () => confirmations.close(), () => probes.close(), () => notifications.close(), () => snapshot.stop());

  const bodies = (receiver: HttpReceiver) => receiver.requests.map((r) => r.json as SubscriberHook);
  // One confirmed subscriber of every component, through the page's own subscribe and confirm flow.
  await request(app).post("/subscriptions").send({ type: "webhook", endpoint: subscriber.url("/statuspage") }).expect(202);
  const confirmation = await waitFor("the subscriber's confirmation request", () => bodies(subscriber).find((b) => b.subscription_confirmation), 10_000, 25);
  const link = new URL(confirmation.subscription_confirmation!.confirm_url);
  await request(app).get(link.pathname + link.search).set("accept", "application/json").expect(200);

  const evaluate = new Queue<EvaluateJob>(QUEUE.evaluate, { connection: commands, prefix: bullPrefix(config.redis.prefix) });
  const queues = [QUEUE.evaluate, QUEUE.incidents].map((name) => new Queue(name, { connection: commands, prefix: bullPrefix(config.redis.prefix) }));
  stops.push(() => evaluate.close(), ...queues.map((q) => () => q.close()));
  let clock = Date.now();
  const replicas: { close(): Promise<void> }[] = [];

  return {
    config,
    status,
    app,
    snapshot,
    oncall,
    subscriber,
    token,
    async round(outcome) {
      clock = Math.max(clock + 1_000, Date.now());
      const at = new Date(clock).toISOString();
      const result: ProbeResult = { id: newId(16), probe: "chat-echo", kind: "websocket", location: "local", status: outcome, latency_ms: 12, phases: {}, started_at: at, finished_at: at, error: outcome === "failed" ? "connect: connection refused" : undefined };
      await evaluate.add("result", { result }, { jobId: result.id });
      await waitFor("the pipeline to take the result in", async () => {
        const counts = await Promise.all(queues.map((q) => q.getJobCounts("wait", "active", "prioritized")));
        return counts.every((c) => (c.wait ?? 0) + (c.active ?? 0) + (c.prioritized ?? 0) === 0) && (await evaluate.getJob(result.id))?.finishedOn !== undefined;
      }, 10_000, 25);
    },
    async stopIncidentWorker() {
      await incidents?.close();
      incidents = undefined;
    },
    startIncidentWorker() {
      const worker = startIncidentWorker({ config, status, connection: blocking, log });
      replicas.push(worker);
      return worker;
    },
    incidentsQueue: () => queues[1]!,
    oncallPosts: (incident) => oncall.requests.map((r) => r.json as OnCallPost).filter((p) => !incident || p.data.incident.id === incident),
    subscriberPosts: (incident) => bodies(subscriber).filter((b) => b.incident && (!incident || b.incident.id === incident)),
    componentPosts: (component) => bodies(subscriber).filter((b) => b.component_update?.component_id === component),
    async stop() {
      await incidents?.close();
      for (const replica of replicas) await replica.close();
      for (const stop of stops) await stop();
      await Promise.all([oncall.stop(), subscriber.stop()]);
      blocking.disconnect();
      commands.disconnect();
    },
  };
}
