import { Router, type Request } from "express";
import type { Config, ResolvedProbe } from "../config/index.ts";
import { NotFoundError, ValidationError } from "../core/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";
import type { StatusContext } from "../status/index.ts";
import { probeOf as findProbe, probeSummaries, runLocationOf } from "./probe-reads.ts";

/** What the admin API may ask of the probe machinery (the pipeline's ProbeControl). */
export interface ProbeControl {
  /** Pauses or resumes a probe's schedule everywhere. */
  setPaused(probe: string, paused: boolean): Promise<void>;
  /** Runs a probe once now at a location, through that location's agent, and returns its result. */
  runNow(probe: ResolvedProbe, location: string): Promise<ProbeResult>;
}

/**
 * /admin/api/probes: the probes with their last result per location, their
 * recent results and latency charts, pause/resume, and run-now.
 */
export function adminProbesRouter(options: { config: () => Config; status: StatusContext; probes: ProbeControl }): Router {
  const { status, probes } = options;
  const router = Router();
  const probeOf = (id: string): ResolvedProbe => findProbe(options.config(), id);

  router.get("/probes", async (_req, res) => {
    res.json({ probes: await probeSummaries(options.config(), status) });
  });

  router.get("/probes/:id/results", async (req, res) => {
    const probe = probeOf(req.params.id);
    const location = locationOf(req, probe);
    res.json({ probe: probe.id, location, results: await status.store.recentResults(probe.id, location, limitOf(req)) });
  });

  router.get("/probes/:id/latency", async (req, res) => {
    const probe = probeOf(req.params.id);
    const range = req.query.range ?? "24h";
    if (range !== "24h" && range !== "7d") throw new ValidationError(['range: expected "24h" or "7d"']);
    const locations = req.query.location === undefined ? probe.locations : [locationOf(req, probe)];
    res.json({ probe: probe.id, range, locations, points: await status.store.latency(probe.id, locations, range) });
  });

  router.post("/probes/:id/pause", async (req, res) => {
    const probe = probeOf(req.params.id);
    await probes.setPaused(probe.id, true);
    res.json({ probe: probe.id, paused: true });
  });

  router.post("/probes/:id/resume", async (req, res) => {
    const probe = probeOf(req.params.id);
    await probes.setPaused(probe.id, false);
    res.json({ probe: probe.id, paused: false });
  });

  router.post("/probes/:id/run", async (req, res) => {
    const probe = probeOf(req.params.id);
    const body = (req.body ?? {}) as { location?: unknown };
    const location = runLocationOf(probe, body.location);
    res.json({ result: await probes.runNow(probe, location) });
  });

  router.get("/components/:id/uptime", async (req, res) => {
    const id = req.params.id;
    if (!status.components.some((c) => c.id === id)) throw new NotFoundError(`component ${id}`);
    const days = req.query.days === undefined ? 90 : Number(req.query.days);
    if (!Number.isInteger(days) || days < 1 || days > 90) throw new ValidationError(["days: expected a whole number from 1 to 90"]);
    res.json({ component: id, days: (await status.store.uptime([id], days)).get(id) });
  });

  return router;
}

function locationOf(req: Request, probe: ResolvedProbe): string {
  const location = req.query.location === undefined ? probe.locations[0]! : String(req.query.location);
  if (!probe.locations.includes(location)) throw new ValidationError([`location: ${probe.id} does not run from "${location}"`]);
  return location;
}

function limitOf(req: Request): number {
  const limit = req.query.limit === undefined ? 100 : Number(req.query.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > 1_000) throw new ValidationError(["limit: expected a whole number from 1 to 1000"]);
  return limit;
}
