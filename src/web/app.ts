import path from "node:path";
import express, { type Express } from "express";
import type { Config } from "../config/index.ts";
import { PACKAGE_ROOT, newId, type Logger } from "../core/index.ts";
import type { StatusContext } from "../status/index.ts";
import { adminRouter } from "./admin.ts";
import type { ProbeControl } from "./admin-probes.ts";
import type { NotificationAdmin } from "./admin-operations.ts";
import { errorHandler } from "./errors.ts";
import { PageRenderer } from "./pages.ts";
import type { SnapshotService } from "./snapshot.ts";
import { StatuspageMapper } from "./statuspage.ts";

export const PUBLIC_DIR = path.join(PACKAGE_ROOT, "public");

export interface WebAppOptions {
  config: Config;
  status: StatusContext;
  snapshot: SnapshotService;
  /** Bearer tokens of the admin API. */
  adminTokens: string[];
  /** Answers when the control-plane Redis is reachable. */
  ready: () => Promise<void>;
  /** Pause, resume and run-now for the admin API. */
  probes: ProbeControl;
  /** Dead letters, replay and disabled channels for the admin API. */
  notifications: NotificationAdmin;
  /** The running config, for the admin API (it changes on reload). @defaultValue the config given */
  liveConfig?: () => Config;
  log: Logger;
}

/**
 * The web role's Express app: the public page and Statuspage-compatible API
 * (served from the in-memory snapshot, never a 5xx because Redis is down),
 * health endpoints and the admin API.
 */
export function createWebApp(options: WebAppOptions): Express {
  const { config, snapshot } = options;
  const log = options.log.child({ module: "web" });
  const pages = new PageRenderer(config);
  const mapper = new StatuspageMapper(config);
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);

  app.use((req, res, next) => {
    const incoming = req.get("x-request-id");
    res.set("x-request-id", incoming && /^[\w.-]{1,64}$/.test(incoming) ? incoming : newId(16));
    res.set("x-content-type-options", "nosniff");
    next();
  });

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });

  app.get("/readyz", async (_req, res) => {
    try {
      await withTimeout(options.ready(), 1_000);
      res.json({ status: "ready" });
    } catch (err) {
      res.status(503).json({ status: "unavailable", reason: `control-plane Redis unreachable: ${(err as Error).message}` });
    }
  });

  app.use("/static", express.static(PUBLIC_DIR, { maxAge: "1h", index: false }));

  app.get("/", (_req, res) => {
    const current = snapshot.current();
    res.set("cache-control", "no-cache");
    if (!current) {
      res.status(503).set("retry-after", "5").type("html").send(pages.unavailable());
      return;
    }
    res.type("html").send(pages.home(current));
  });

  const api = (build: (s: NonNullable<ReturnType<SnapshotService["current"]>>) => unknown) =>
    (_req: express.Request, res: express.Response) => {
      const current = snapshot.current();
      res.set("cache-control", "no-cache").set("access-control-allow-origin", "*");
      if (!current) {
        res.status(503).set("retry-after", "5").json({ code: "not_ready", message: "status not loaded yet; retry in a few seconds" });
        return;
      }
      if (current.staleSince) res.set("x-pulseboard-stale-since", current.staleSince);
      res.json(build(current));
    };
  app.get("/api/v2/summary.json", api((s) => mapper.summary(s.summary)));
  app.get("/api/v2/status.json", api((s) => ({ page: mapper.page(s.summary), status: mapper.status(s.summary) })));
  app.get("/api/v2/components.json", api((s) => ({ page: mapper.page(s.summary), components: mapper.components(s.summary) })));

  app.use("/admin/api", adminRouter({ config: options.liveConfig ?? (() => config), status: options.status, tokens: options.adminTokens, probes: options.probes, notifications: options.notifications }));

  app.use((_req, res) => {
    res.status(404).json({ code: "not_found", message: "no such page" });
  });
  app.use(errorHandler(log));
  return app;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms).unref()),
  ]);
}

