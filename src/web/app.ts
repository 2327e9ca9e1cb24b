import type { IncomingMessage, RequestListener, ServerResponse } from "node:http";
import path from "node:path";
import express from "express";
import type { Config } from "../config/index.ts";
import { PACKAGE_ROOT, newId, type Logger } from "../core/index.ts";
import type { StatusContext } from "../status/index.ts";
import type { SubscriptionContext } from "../subscriptions/index.ts";
import { AdminAuth } from "./auth.ts";
import { adminRouter } from "./admin.ts";
import type { ProbeControl } from "./admin-probes.ts";
import type { NotificationAdmin } from "./admin-operations.ts";
import type { PlaybookAdmin } from "./admin-playbooks.ts";
import { consoleRouter } from "./console/router.ts";
import { errorHandler } from "./errors.ts";
import { NO_FLEET, type FleetAccess } from "./fleet-orders.ts";
import { heartbeatRouter } from "./heartbeat.ts";
import { liveRouter } from "./live.ts";
import { PageRenderer } from "./pages.ts";
import { PublicSite, SECURITY_HEADERS } from "./public-site.ts";
import { publicRoutes } from "./public-routes.ts";
import type { SnapshotService } from "./snapshot.ts";
import { StatuspageMapper } from "../status/index.ts";

export const PUBLIC_DIR = path.join(PACKAGE_ROOT, "public");

export interface WebAppOptions {
  config: Config;
  status: StatusContext;
  snapshot: SnapshotService;
  /** Bootstrap bearer tokens of the admin API (every scope); scoped tokens live in the control plane. */
  adminTokens: string[];
  /** Who may use the admin API, and its audit log. @defaultValue the bootstrap tokens and the status store's Redis */
  auth?: AdminAuth;
  /** Answers when the control-plane Redis is reachable. */
  ready: () => Promise<void>;
  /** Pause, resume and run-now for the admin API. */
  probes: ProbeControl;
  /** Dead letters, replay and disabled channels for the admin API. */
  notifications: NotificationAdmin;
  /** The running config, for the admin API (it changes on reload). @defaultValue the config given */
  liveConfig?: () => Config;
  /** Playbooks, runs and approvals for the admin API. @defaultValue none */
  playbooks?: PlaybookAdmin;
  /** The gateway fleet through the configured fleet driver (admin API and console). @defaultValue none: the fleet pages say so */
  fleet?: FleetAccess;
  /** The service's Prometheus metrics at /metrics (any admin token: the `read` scope). @defaultValue no /metrics */
  metrics?: { contentType: string; text(): Promise<string> };
  /** Status-page subscriptions (public and admin routes), from subscriptionsRouter. @defaultValue none */
  subscriptions?: express.RequestHandler;
  /** The subscription verbs' context, for the console's subscribers page (search, remove). @defaultValue none */
  subscriptionContext?: SubscriptionContext;
  /** The remote agents' API at /api/agent/v1, from agentApiRouter. @defaultValue none */
  agents?: express.RequestHandler;
  log: Logger;
}

/** The web role's request handler: hand it to http.createServer, or to supertest. */
export type WebApp = RequestListener<typeof IncomingMessage, typeof ServerResponse>;

/**
 * The web role: the public page, its JSON, feeds and badges answered from
 * the snapshot in front of Express (rendered once per change, never a 5xx
 * because Redis is down), then Express for live updates, health, static
 * files and the admin API.
 */
export function createWebApp(options: WebAppOptions): WebApp {
  const { config, snapshot } = options;
  const log = options.log.child({ module: "web" });
  const pages = new PageRenderer(config);
  const mapper = new StatuspageMapper(config);
  const site = new PublicSite({ snapshot, ...publicRoutes({ config, pages, mapper }), rateLimit: config.web.rateLimit && { ...config.web.rateLimit, trustProxy: config.web.trustProxy } });
  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.set("trust proxy", false);

  app.use((req, res, next) => {
    const incoming = req.get("x-request-id");
    res.set("x-request-id", incoming && /^[\w.-]{1,64}$/.test(incoming) ? incoming : newId(16));
    res.set(SECURITY_HEADERS);
    next();
  });

  app.get("/healthz", (_req, res) => {
    res.set("cache-control", "no-store").json({ status: "ok" });
  });

  app.get("/readyz", async (_req, res) => {
    res.set("cache-control", "no-store");
    try {
      await withTimeout(options.ready(), 1_000);
      res.json({ status: "ready" });
    } catch (err) {
      // Public: the cause in words, never the Redis's address (the role's log, where the connection is watched, has it).
      res.status(503).json({ status: "unavailable", reason: `control-plane Redis unreachable: ${unreachableWords(err)}` });
    }
  });

  app.use("/static", express.static(PUBLIC_DIR, { maxAge: "1h", index: false }));
  app.use(liveRouter({ snapshot, pages, log }));
  const auth = options.auth ?? AdminAuth.forRedis(options.status.store.redis, config.redis.prefix, options.adminTokens, log, { failedLogins: config.admin.failedLogins, trustProxy: config.web.trustProxy });
  if (options.metrics) {
    const metrics = options.metrics;
    app.get("/metrics", auth.guard(), async (_req, res) => {
      res.set("content-type", metrics.contentType).set("cache-control", "no-store").send(await metrics.text());
    });
  }
  const fleetAccess = () => options.fleet ?? NO_FLEET();
  app.use("/admin/api", adminRouter({ config: options.liveConfig ?? (() => config), status: options.status, auth, probes: options.probes, notifications: options.notifications, playbooks: options.playbooks, fleet: fleetAccess }));
  // Heartbeat checks: jobs ping /api/heartbeat/<probe id> with their own token (see heartbeat.ts).
  app.use("/api/heartbeat", heartbeatRouter({ config: options.liveConfig ?? (() => config), tokens: auth.tokens, redis: options.status.store.redis, trustProxy: config.web.trustProxy, log }));

  // Status-page subscriptions: /subscriptions/* and /admin/api/subscribers/* (see subscriptions.ts).
  if (options.subscriptions) app.use(options.subscriptions);
  // Remote agents: pull a location's probes, push its results (see agent-api.ts).
  if (options.agents) app.use("/api/agent/v1", options.agents);
  // The operator console: pages for people under /admin (see console/router.ts); after every /admin/api router.
  app.use("/admin", consoleRouter({ config: options.liveConfig ?? (() => config), status: options.status, auth, probes: options.probes, fleet: fleetAccess, notifications: options.notifications, subscriptions: options.subscriptionContext, playbooks: options.playbooks, announcements: (listener) => snapshot.onAnnounced(listener), log }).router);

  app.use((_req, res) => {
    res.status(404).json({ code: "not_found", message: "no such page" });
  });
  app.use(errorHandler(log));
  return (req, res) => {
    if (!site.handle(req, res)) app(req, res);
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref()),
  ]);
}

/** Why a dependency did not answer, in words that name no address. */
function unreachableWords(err: unknown): string {
  const { code, message } = err as { code?: string; message?: string };
  if (code === "ECONNREFUSED" || /ECONNREFUSED/.test(message ?? "")) return "connection refused";
  if (/^no answer within|timed? ?out|timeout/i.test(message ?? "")) return "no answer within 1 s";
  if (/Connection is closed|ENOTFOUND|EHOSTUNREACH|ECONNRESET/.test(message ?? "")) return "not connected";
  return "no answer";
}
