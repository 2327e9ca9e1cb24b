import { createServer, type Server } from "node:http";
import path from "node:path";
import { UpstreamError, closeRedis, connectRedis, describeError } from "../core/index.ts";
import { createFleetDriver } from "../fleet/index.ts";
import { ClusterMetrics, NotificationControl, PlaybookControl, ProbeControl } from "../pipeline/index.ts";
import { StatusStore, type StatusContext } from "../status/index.ts";
import { QueuedConfirmations, SubscriberStore } from "../subscriptions/index.ts";
import { AdminAuth, agentApiRouter, createWebApp, PageRenderer, SnapshotService, subscriptionsRouter, type FleetAccess, type SubscriptionViewData, type WebApp } from "../web/index.ts";
import { announceReady, controlPlaneRedis, type Role, type RoleContext } from "./context.ts";

/** The web role: public page, Statuspage-compatible API, admin API, health. */
export async function runWeb({ config, log, watcher, env }: RoleContext): Promise<Role> {
  const target = controlPlaneRedis(config, "web");
  const redis = connectRedis(target, { profile: "command", name: "web", log });
  const subscriber = connectRedis(target, { profile: "command", name: "web-events", log });
  const store = new StatusStore(redis, config.redis.prefix, { log });
  const status: StatusContext = { store, components: config.components, publish: config.incidents.publish };
  let current = config;
  const snapshot = SnapshotService.forStore(status, () => current, {
    file: path.join(config.home, "web", "snapshot.json"),
    subscribe: async (onChange) => {
      const onMessage = (_channel: string, message: string) => onChange(message);
      subscriber.on("message", onMessage);
      await subscriber.subscribe(store.keys.events);
      return async () => {
        subscriber.off("message", onMessage);
      };
    },
    log,
  });
  await snapshot.start();
  const tokens = config.admin.token ? [config.admin.token] : [];
  if (tokens.length === 0) log.warn("no admin token configured (ADMIN_TOKEN): the admin API refuses every request");
  watcher.onChange((next) => {
    current = next;
    status.components = next.components;
    status.publish = next.incidents.publish;
    void snapshot.refresh({ history: true });
  });
  const probes = new ProbeControl({ config: () => current, connection: redis, store, log });
  const notifications = new NotificationControl({ config: () => current, connection: redis, store });
  const playbooks = new PlaybookControl({ config: () => current, connection: redis, status, log });
  const confirmations = new QueuedConfirmations({ config: () => current, connection: redis });
  const subscriptionContext = { store: new SubscriberStore(redis, config.redis.prefix, { log }), config: () => current, confirmations };
  const pages = new PageRenderer(config);
  const auth = AdminAuth.forRedis(redis, config.redis.prefix, tokens, log, { failedLogins: config.admin.failedLogins, trustProxy: config.web.trustProxy });
  const subscriptions = subscriptionsRouter({ ctx: subscriptionContext, auth, render: (view, data) => pages.view(view, data as SubscriptionViewData), log });
  const metrics = new ClusterMetrics({ config: () => current, connection: redis, status, playbooks, notifications });
  const agents = agentApiRouter({ config: () => current, auth, connection: redis, log });
  const fleet = fleetAccess(config, log, env);
  const app = createWebApp({ config, liveConfig: () => current, status, snapshot, adminTokens: tokens, auth, metrics, ready: () => store.ping(), probes, notifications, playbooks, subscriptions, subscriptionContext, agents, fleet, log });
  const server = await listen(app, config.web.port, config.web.host);
  log.info({ port: config.web.port, url: config.page.url }, "status page serving");
  announceReady("web", { port: config.web.port });
  return {
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        setTimeout(() => server.closeAllConnections(), 2_000).unref();
      });
      watcher.stop();
      await snapshot.stop();
      await probes.close();
      await notifications.close();
      await playbooks.close();
      await confirmations.close();
      await agents.close();
      await metrics.close();
      await Promise.all([closeRedis(subscriber), closeRedis(redis)]);
    },
  };
}

/**
 * The fleet driver `fleet:` names, for the admin API's and the console's
 * fleet pages. One that cannot be created leaves the rest of the web role
 * serving; those pages say why.
 */
function fleetAccess(config: RoleContext["config"], log: RoleContext["log"], env: NodeJS.ProcessEnv): FleetAccess {
  try {
    return { driver: createFleetDriver(config, log, env) };
  } catch (err) {
    log.error({ err: describeError(err) }, "the fleet pages are off: the fleet driver cannot be created");
    return { problem: `the fleet driver cannot be created: ${describeError(err)}` };
  }
}

function listen(app: WebApp, port: number, host?: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ keepAliveTimeout: 65_000 }, app);
    server.listen({ port, host }, () => resolve(server));
    server.once("error", (err: NodeJS.ErrnoException) => {
      reject(err.code === "EADDRINUSE" ? new UpstreamError(`port ${port} is already in use; set PORT to a free port`) : err);
    });
  });
}
