import express, { Router, type NextFunction, type Request, type Response } from "express";
import type { Config } from "../../config/index.ts";
import { describeError, type Logger } from "../../core/index.ts";
import type { ChangeEvent, StatusContext } from "../../status/index.ts";
import type { SubscriptionContext } from "../../subscriptions/index.ts";
import type { NotificationAdmin } from "../admin-operations.ts";
import type { PlaybookAdmin } from "../admin-playbooks.ts";
import type { AdminAuth } from "../auth.ts";
import { messagePage, signedIn } from "./guard.ts";
import type { ProbeControl } from "../admin-probes.ts";
import { NO_FLEET, type FleetAccess } from "../fleet-orders.ts";
import { fleetRoutes } from "./fleet-routes.ts";
import { incidentRoutes } from "./incident-routes.ts";
import { maintenanceRoutes } from "./maintenance-routes.ts";
import { postmortemRoutes } from "./postmortem-routes.ts";
import { templateRoutes } from "./template-routes.ts";
import { probeRoutes } from "./probe-routes.ts";
import { loginRoutes } from "./login-routes.ts";
import { opsRoutes } from "./ops-routes.ts";
import { consoleLiveRoutes } from "./live-routes.ts";
import { playbookRoutes } from "./playbook-routes.ts";
import { oidcRoutes } from "./oidc-routes.ts";
import { ConsoleRenderer } from "./render.ts";
import { ConsoleSessions } from "./sessions.ts";

/** The largest form the console reads from a signed-in session: big enough that an oversized field is named, not just refused. */
export const CONSOLE_BODY_LIMIT = "2mb";

export interface ConsoleOptions {
  /** The running config (it changes when pulseboard.yaml is reloaded). */
  config: () => Config;
  status: StatusContext;
  /** The admin API's tokens, scope checks, failed-login limit and audit log. */
  auth: AdminAuth;
  /** @defaultValue sessions in the status store's Redis, with admin.session_idle */
  sessions?: ConsoleSessions;
  /** Channels, dead letters and replays, as the admin API has them. */
  notifications: NotificationAdmin;
  /** Status-page subscriptions, for the subscribers page. @defaultValue none: that page says they are not set up here */
  subscriptions?: SubscriptionContext;
  /** Playbooks, their runs and approvals, as the admin API has them. @defaultValue none: the playbook pages say so */
  playbooks?: PlaybookAdmin;
  /** Pause, resume and run-now, as the admin API has them. */
  probes: ProbeControl;
  /** The gateway fleet through the configured fleet driver, as the admin API reaches it. @defaultValue none: the fleet page says so */
  fleet?: () => FleetAccess;
  /** Every change the pipeline announces, for the console's live stream (/admin/live). @defaultValue none: pages refresh on a reload only */
  announcements?: (listener: (event: ChangeEvent) => void) => () => void;
  log: Logger;
}

/**
 * The operator console under /admin (beside the admin API at /admin/api):
 * server-rendered pages that work without JavaScript, signed in with an
 * admin token into a server-side session. Every write goes through the
 * admin API's scope check and audit log and calls the same verbs.
 */
export function consoleRouter(options: ConsoleOptions): { router: Router; sessions: ConsoleSessions } {
  const config = options.config;
  const log = options.log.child({ module: "web.console" });
  const sessions =
    options.sessions ??
    new ConsoleSessions({ redis: options.status.store.redis, prefix: config().redis.prefix, tokens: options.auth.tokens, idleMs: config().admin.sessionIdleMs, trustProxy: config().web.trustProxy });
  const render = new ConsoleRenderer(config);
  const router = Router();

  router.use((req, res, next) => {
    // The admin API lives under the same prefix and answers in JSON, whatever the console would say.
    if (/^\/api(\/|$)/.test(req.path)) return next("router");
    res.set("cache-control", "no-store");
    next();
  });
  router.get("/", (_req, res) => res.redirect(303, "/admin/incidents"));
  const oidc = oidcRoutes({ config, redis: options.status.store.redis, sessions, auth: options.auth, render, log });
  router.use(loginRoutes({ auth: options.auth, sessions, render, trustProxy: () => config().web.trustProxy, log, oidc: oidc.offer }));
  router.use(oidc.router);
  // Before signedIn: the stream checks its session itself, without moving its idle expiry on.
  if (options.announcements) router.use(consoleLiveRoutes({ sessions, announcements: options.announcements, log }));
  router.use(signedIn(sessions));
  router.use(express.urlencoded({ extended: false, limit: CONSOLE_BODY_LIMIT, parameterLimit: 200 }));
  router.use(incidentRoutes({ config, status: options.status, auth: options.auth, render, playbooks: options.playbooks }));
  router.use(maintenanceRoutes({ config, status: options.status, auth: options.auth, render }), postmortemRoutes({ status: options.status, auth: options.auth, render }));
  router.use(templateRoutes({ config, status: options.status, auth: options.auth, render }));
  router.use(probeRoutes({ config, status: options.status, auth: options.auth, render, probes: options.probes }));
  router.use(fleetRoutes({ auth: options.auth, render, fleet: options.fleet ?? NO_FLEET, log }));
  router.use(playbookRoutes({ playbooks: options.playbooks, auth: options.auth, render }));
  router.use(opsRoutes({ config, auth: options.auth, notifications: options.notifications, subscriptions: options.subscriptions, render }));
  router.use((_req, res) => messagePage(render, res, 404, "Not found", ["The console has no such page."]));
  router.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const type = (err as { type?: string }).type;
    if (type === "entity.too.large") return messagePage(render, res, 413, "Form too large", [`The form is larger than ${CONSOLE_BODY_LIMIT.replace("mb", " MiB")}, so nothing was read or saved. Shorten the text (a Message holds at most 20,000 characters) and send it again.`]);
    if (type === "parameters.too.many") return messagePage(render, res, 413, "Form refused", ["The form has too many fields, so nothing was read or saved."]);
    if (type === "entity.parse.failed" || type === "encoding.unsupported" || type === "charset.unsupported") return messagePage(render, res, 400, "Form refused", ["The form could not be read, so nothing was saved."]);
    log.error({ err: describeError(err), method: req.method, path: req.path }, "console request failed");
    messagePage(render, res, 500, "Something went wrong", ["The console could not answer; nothing is known to have changed. Try again shortly."]);
  });
  return { router, sessions };
}
