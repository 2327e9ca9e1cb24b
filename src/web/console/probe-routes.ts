import { Router, type Request, type Response } from "express";
import { allows } from "../../auth/index.ts";
import type { Config, ResolvedProbe } from "../../config/index.ts";
import { NotFoundError, TimeoutError, ValidationError } from "../../core/index.ts";
import type { ProbeResult } from "../../probe-runtime/index.ts";
import type { StatusContext } from "../../status/index.ts";
import type { ProbeControl } from "../admin-probes.ts";
import { scopeFor, type AdminAuth } from "../auth.ts";
import { locationSummaries, probeOf, probeSummaries, probeSummary, runLocationOf } from "../probe-reads.ts";
import { consoleWrite, messagePage, sessionOf } from "./guard.ts";
import { chartViews, locationRow, probeRow, recentRows, resultView, runLocations } from "./probe-views.ts";
import type { ConsoleRenderer } from "./render.ts";

export interface ProbeRoutesOptions {
  config: () => Config;
  status: StatusContext;
  auth: AdminAuth;
  render: ConsoleRenderer;
  /** Pause, resume and run-now: the admin API's own (the pipeline's ProbeControl). */
  probes: ProbeControl;
}

/** What `?done=` says after an action: fixed words. */
const DONE: Record<string, string> = {
  paused: "Paused: no scheduled runs until it is resumed.",
  resumed: "Resumed: it runs on its schedule again.",
};

/**
 * The console's probes and locations: every probe with its latest result
 * per location, one probe's page (results per location, its response-time
 * charts, recent results, pause / resume / run now), and each location's
 * state. Writes go through the admin API's scope check (`fleet`) and audit
 * log, and call the same ProbeControl the API calls.
 */
export function probeRoutes(options: ProbeRoutesOptions): Router {
  const { status, render } = options;
  const router = Router();
  const write = consoleWrite(options.auth, render);
  const canWrite = (res: Response) => allows(sessionOf(res).actor, scopeFor("POST", "/admin/api/probes/any/pause"));
  const page = (res: Response, httpStatus: number, view: string, title: string, data: Record<string, unknown>) =>
    res.status(httpStatus).type("html").send(render.page(view, { title, section: "probes", session: sessionOf(res), canWrite: canWrite(res), csrf: sessionOf(res).csrf, ...data }));

  router.get("/probes", async (_req, res) => {
    const config = options.config();
    const [probes, { locations }] = await Promise.all([probeSummaries(config, status), locationSummaries(config, status)]);
    page(res, 200, "probes", "Probes", { probes: probes.map((p) => probeRow(p, config)), locations: locations.map(locationRow) });
  });

  router.get("/locations", async (_req, res) => {
    const config = options.config();
    const { locations } = await locationSummaries(config, status);
    page(res, 200, "locations", "Locations", { locations: locations.map(locationRow) });
  });

  /** One probe's page; after a run-now, with its result; after a refused form, with what was wrong. */
  const probePage = async (req: Request, res: Response, httpStatus: number, probe: ResolvedProbe, extra: { ran?: ProbeResult; issues?: string[]; chosen?: string } = {}) => {
    const config = options.config();
    const names = new Map(config.locations.map((l) => [l.id, l.name]));
    const [summary, day, week, recent] = await Promise.all([
      probeSummary(status, probe, await status.store.pausedProbes()),
      status.store.latency(probe.id, probe.locations, "24h", Date.now(), { fit: true }),
      status.store.latency(probe.id, probe.locations, "7d", Date.now(), { fit: true }),
      Promise.all(probe.locations.map((l) => status.store.recentResults(probe.id, l, 10))),
    ]);
    const runFrom = runLocations(probe, config);
    const chosen = runFrom.some((l) => l.id === extra.chosen) ? extra.chosen : runFrom[0]?.id;
    page(res, httpStatus, "probe", probe.name, {
      probe: probeRow(summary, config),
      charts: chartViews(probe.name, day, week, config.page.time_zone),
      recent: recentRows(recent, names),
      runFrom: runFrom.map((l) => ({ ...l, selected: l.id === chosen })),
      heartbeat: probe.kind === "heartbeat",
      ran: extra.ran && { ...resultView(extra.ran), locationName: names.get(extra.ran.location) ?? extra.ran.location },
      issues: extra.issues ?? [],
      flash: typeof req.query.done === "string" ? DONE[req.query.done] : undefined,
    });
  };

  const found = (id: string) => probeOf(options.config(), id);

  router.get("/probes/:id", async (req, res) => probePage(req, res, 200, found(req.params.id)));

  const setPaused = (paused: boolean) => async (req: Request<{ id: string }>, res: Response) => {
    const probe = found(req.params.id);
    await options.probes.setPaused(probe.id, paused);
    res.redirect(303, `/admin/probes/${encodeURIComponent(probe.id)}?done=${paused ? "paused" : "resumed"}`);
  };
  router.post("/probes/:id/pause", ...write, setPaused(true));
  router.post("/probes/:id/resume", ...write, setPaused(false));

  router.post("/probes/:id/run", ...write, async (req, res) => {
    const probe = found(String(req.params.id));
    const asked = (req.body as Record<string, unknown> | undefined)?.location;
    const problem = asked === undefined || asked === "" ? "Location: choose where to run it from" : typeof asked !== "string" ? "Location: sent more than once; send it once" : undefined;
    if (problem) return probePage(req, res, 400, probe, { issues: [problem] });
    try {
      const location = runLocationOf(probe, asked);
      const ran = await options.probes.runNow(probe, location);
      await probePage(req, res, 200, probe, { ran, chosen: location });
    } catch (err) {
      if (err instanceof ValidationError) return probePage(req, res, 400, probe, { issues: err.issues.map(labelled), chosen: typeof asked === "string" ? asked : undefined });
      if (err instanceof TimeoutError) return probePage(req, res, 504, probe, { issues: [`Not run: ${err.message}`], chosen: asked as string });
      throw err;
    }
  });

  router.use((err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (!(err instanceof NotFoundError)) return next(err);
    messagePage(render, res, 404, "Not found", ["There is no such probe: the link may be wrong, or it was removed from pulseboard.yaml."], { section: "probes", back: { href: "/admin/probes", label: "All probes" } });
  });

  return router;
}

/** The admin API's `location: …` said with the form's label. */
function labelled(issue: string): string {
  return issue.replace(/^location: /, "Location: ");
}
