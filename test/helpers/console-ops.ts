import http from "node:http";
import type { AddressInfo } from "node:net";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { bullPrefix, NotificationControl, ProbeControl, QUEUE, startNotifyWorker, startOutboxDispatcher } from "../../src/pipeline/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import { QueuedConfirmations, SubscriberStore, startSubscriberDelivery, type SubscriptionContext } from "../../src/subscriptions/index.ts";
import { AdminAuth, createWebApp, SnapshotService, StatuspageMapper, subscriptionsRouter } from "../../src/web/index.ts";
import { configFrom } from "./config.ts";
import { captureLog, HttpReceiver } from "./receivers.ts";
import { startRedis, uniquePrefix, type TestRedis } from "./redis.ts";
import { waitFor } from "./wait.ts";

/**
 * The web role and the worker's notification pieces on one real
 * redis-server, for the console's notifications, subscribers, tokens and
 * audit pages: on-call channels `oncall` and `pager` posting to real HTTP
 * receivers, status-page subscriptions with their confirmations delivered
 * (to `hooks`), and the web app on a loopback port with its log captured.
 */
export interface OpsRig {
  redis: TestRedis;
  config: Config;
  status: StatusContext;
  subscriptions: SubscriptionContext;
  notifications: NotificationControl;
  /** The on-call receivers, by channel. */
  oncall: HttpReceiver;
  pager: HttpReceiver;
  /** Where webhook subscribers' posts (and confirmations) go. */
  hooks: HttpReceiver;
  base: string;
  token: string;
  /** Everything the web app and workers logged. */
  logText(): string;
  /** Calls the admin API with `token` (the bootstrap one by default). */
  api(method: string, path: string, body?: unknown, token?: string): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Subscribes a webhook at `path` on `hooks` through the public form and confirms it through its link; returns its id. */
  subscribeWebhook(path: string): Promise<string>;
  /** Resolves once no post waits, runs or is delayed in the notify queue. */
  notifyIdle(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOpsRig(): Promise<OpsRig> {
  const redis = await startRedis();
  const [oncall, pager, hooks] = await Promise.all([HttpReceiver.start({ status: 200 }), HttpReceiver.start({ status: 200 }), HttpReceiver.start({ status: 200 })]);
  const token = "console-ops-bootstrap-token-0123456789";
  const config = await configFrom(`
redis: { prefix: ${uniquePrefix("ops")} }
page: { name: Ops Status, url: "http://127.0.0.1:1" }
locations: [{ id: local }]
components: [{ id: chat, name: Chat }, { id: qa, name: "Q&A" }]
notifications:
  retry_base: 100ms
  retry_max: 300ms
  attempts: 2
  channels:
    - { id: oncall, kind: webhook, url: "${oncall.url("/oncall")}" }
    - { id: pager, kind: webhook, url: "${pager.url("/pager")}" }
subscriptions:
  rate_limit: { requests: 1000, per: 1m }
`, { REDIS_URL: redis.url });
  const captured = captureLog();
  const log = captured.log;
  const blocking = new Redis(redis.url, { maxRetriesPerRequest: null });
  const commands = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const status: StatusContext = { store: new StatusStore(commands, config.redis.prefix), components: config.components };
  const store = new SubscriberStore(commands, config.redis.prefix);
  const confirmations = new QueuedConfirmations({ config: () => config, connection: commands });
  const subscriptions: SubscriptionContext = { store, config: () => config, confirmations };
  const outbox = startOutboxDispatcher({ config: () => config, status, connection: commands, log });
  const notify = startNotifyWorker({ config: () => config, status, connection: blocking, notifier: (kind) => channelKinds.get(kind), log });
  const delivery = startSubscriberDelivery({ config: () => config, status, store, shapes: new StatuspageMapper(config), connection: blocking, log });
  const snapshot = SnapshotService.forStore(status, () => config, { refreshMs: 60_000, log });
  await snapshot.start();
  const probes = new ProbeControl({ config: () => config, connection: commands, store: status.store, log });
  const notifications = new NotificationControl({ config: () => config, connection: commands, store: status.store });
  const auth = AdminAuth.forRedis(commands, config.redis.prefix, [token], log);
  const router = subscriptionsRouter({ ctx: subscriptions, auth, log });
  const app = createWebApp({ config, status, snapshot, adminTokens: [token], auth, ready: () => status.store.ping(), probes, notifications, subscriptions: router, subscriptionContext: subscriptions, log });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const notifyQueue = new Queue(QUEUE.notify, { connection: commands, prefix: bullPrefix(config.redis.prefix) });

  const api: OpsRig["api"] = async (method, path, body, as = token) => {
    const res = await fetch(`${base}/admin/api${path}`, { method, headers: { authorization: `Bearer ${as}`, "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
  };

  return {
    redis,
    config,
    status,
    subscriptions,
    notifications,
    oncall,
    pager,
    hooks,
    base,
    token,
    logText: captured.text,
    api,
    async subscribeWebhook(path) {
      const endpoint = hooks.url(path);
      const asked = await fetch(`${base}/subscriptions`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ type: "webhook", endpoint }) });
      if (asked.status !== 202) throw new Error(`subscribing ${path}: ${asked.status} ${await asked.text()}`);
      const confirmation = await waitFor(`the confirmation request to ${path}`, () => hooks.requests.find((r) => r.path === path && (r.json as { subscription_confirmation?: unknown })?.subscription_confirmation), 10_000, 25);
      const link = (confirmation.json as { subscription_confirmation: { confirm_url: string } }).subscription_confirmation.confirm_url;
      const confirmed = await fetch(`${base}${new URL(link).pathname}${new URL(link).search}`, { headers: { accept: "application/json" } });
      const answer = (await confirmed.json()) as { subscriber: { id: string } };
      return answer.subscriber.id;
    },
    async notifyIdle() {
      await waitFor("the notify queue to be idle", async () => {
        const counts = await notifyQueue.getJobCounts("wait", "active", "delayed", "prioritized", "waiting-children");
        return Object.values(counts).every((n) => n === 0);
      }, 10_000, 25);
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await notifyQueue.close();
      for (const closing of [outbox, notify, delivery, confirmations, probes, notifications]) await closing.close();
      await snapshot.stop();
      await Promise.all([oncall.stop(), pager.stop(), hooks.stop()]);
      blocking.disconnect();
      commands.disconnect();
      await redis.stop();
    },
  };
}
