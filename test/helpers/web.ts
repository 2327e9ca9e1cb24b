import type { RequestHandler } from "express";
import { Redis } from "ioredis";
import type { Config } from "../../src/config/index.ts";
import type { Logger } from "../../src/core/index.ts";
import { ClusterMetrics, NotificationControl, ProbeControl } from "../../src/pipeline/index.ts";
import { StatusStore, type StatusContext } from "../../src/status/index.ts";
import type { SubscriptionContext } from "../../src/subscriptions/index.ts";
import { createWebApp, SnapshotService, type FleetAccess, type WebApp } from "../../src/web/index.ts";
import { configFrom, testLog } from "./config.ts";
import { startRedis, uniquePrefix, type TestRedis } from "./redis.ts";

/** The web role's app on its own redis-server, as the admin-API tests need it. */
export interface WebRig {
  redis: TestRedis;
  connection: Redis;
  config: Config;
  status: StatusContext;
  app: WebApp;
  /** The public page's snapshot: `refresh()` it to show what changed since. */
  snapshot: SnapshotService;
  stop(): Promise<void>;
}

/**
 * Starts a redis-server and builds the web app over it from config YAML
 * (REDIS_URL set), with `tokens` as its bootstrap admin tokens and, when
 * given, the subscriptions router `subscriptions` builds.
 */
export async function startWebRig(yaml: string, options: { tokens: string[]; metrics?: boolean; fleet?: FleetAccess; log?: Logger; announcements?: boolean; subscriptions?: (rig: Omit<WebRig, "app" | "stop" | "snapshot">) => { router: RequestHandler; ctx?: SubscriptionContext; close(): Promise<void> } }): Promise<WebRig> {
  const redis = await startRedis();
  const config = await configFrom(yaml, { REDIS_URL: redis.url });
  const connection = new Redis(redis.url, { maxRetriesPerRequest: 1 });
  const status: StatusContext = { store: new StatusStore(connection, uniquePrefix()), components: config.components };
  // With `announcements`, the snapshot hears the store's change events as the web role does (its own subscriber connection).
  const subscriber = options.announcements ? new Redis(redis.url, { maxRetriesPerRequest: 1 }) : undefined;
  const snapshot = SnapshotService.forStore(status, () => config, {
    refreshMs: 60_000,
    log: testLog(),
    ...(subscriber && {
      subscribe: async (onChange: (message?: string) => void) => {
        subscriber.on("message", (_channel: string, message: string) => onChange(message));
        await subscriber.subscribe(status.store.keys.events);
        return async () => void subscriber.removeAllListeners("message");
      },
    }),
  });
  await snapshot.start();
  const probes = new ProbeControl({ config: () => config, connection, store: status.store, log: testLog() });
  const subscriptions = options.subscriptions?.({ redis, connection, config, status });
  const notifications = new NotificationControl({ config: () => config, connection, store: status.store });
  const metrics = options.metrics ? new ClusterMetrics({ config: () => config, connection, status, notifications }) : undefined;
  const app = createWebApp({
    config,
    status,
    snapshot,
    adminTokens: options.tokens,
    ready: () => status.store.ping(),
    probes,
    notifications,
    metrics,
    subscriptions: subscriptions?.router,
    fleet: options.fleet,
    subscriptionContext: subscriptions?.ctx,
    log: options.log ?? testLog(),
  });
  return {
    redis,
    connection,
    config,
    status,
    app,
    snapshot,
    async stop() {
      await subscriptions?.close();
      await metrics?.close();
      await probes.close();
      await snapshot.stop();
      subscriber?.disconnect();
      connection.disconnect();
      await redis.stop();
    },
  };
}
