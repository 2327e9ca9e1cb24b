import { Router, type NextFunction, type Request, type Response } from "express";
import { ValidationError } from "../core/index.ts";
import { FleetError, type ActionOutcome } from "../fleet/index.ts";
import { cacheModeOf, carryOut, fleetErrorStatus, fleetOverview, replicasOf, type FleetAccess, type FleetOrder } from "./fleet-orders.ts";

/**
 * /admin/api/fleet: the gateway fleet through the configured fleet driver.
 * Reading needs `read`; every order needs `fleet` and is in the audit log.
 * Each order takes `"dry_run": true` to hear what the driver would do.
 *
 *   GET  /fleet                     cache mode, connections, nodes, the orders the driver takes
 *   POST /fleet/nodes/:id/restart   drain one node and start a fresh one
 *   POST /fleet/restart             every node, one by one (`{"failing": true}`: only the failing ones)
 *   POST /fleet/scale               `{"nodes": N}`
 *   POST /fleet/cache-mode          `{"mode": "normal" | "bypass"}`
 */
export function adminFleetRouter(options: { fleet: () => FleetAccess }): Router {
  const router = Router();
  const driver = () => {
    const access = options.fleet();
    if ("problem" in access) throw new FleetUnavailable(access.problem);
    return access.driver;
  };
  const order = (read: (body: Record<string, unknown>, req: Request<{ id?: string }>) => FleetOrder, fields: string[]) => async (req: Request<{ id?: string }>, res: Response) => {
    const body = bodyOf(req, [...fields, "dry_run"]);
    const dryRun = dryRunOf(body.dry_run);
    const outcome = await carryOut(driver(), read(body, req), dryRun);
    res.json({ outcome: outcomeView(outcome) });
  };

  router.get("/fleet", async (_req, res) => {
    res.json(await fleetOverview(driver()));
  });
  router.post("/fleet/nodes/:id/restart", order((_body, req) => ({ action: "restart", target: { node: req.params.id! } }), []));
  router.post("/fleet/restart", order((body) => ({ action: "restart", target: failingOf(body.failing) ? { failing: true } : { rolling: true } }), ["failing"]));
  router.post("/fleet/scale", order((body) => ({ action: "scale", replicas: replicasOf(body.nodes) }), ["nodes"]));
  router.post("/fleet/cache-mode", order((body) => ({ action: "cache_mode", mode: cacheModeOf(body.mode) }), ["mode"]));

  router.use("/fleet", (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (err instanceof FleetUnavailable) return void res.status(503).json({ code: "fleet_unavailable", message: err.message });
    if (!(err instanceof FleetError)) return next(err);
    res.status(fleetErrorStatus(err)).json({ code: err.code, message: err.message, retryable: err.retryable });
  });
  return router;
}

/** What an order did (or would do), as the API answers it. */
export function outcomeView(outcome: ActionOutcome): { summary: string; dry_run: boolean; details: Record<string, unknown> | null } {
  return { summary: outcome.summary, dry_run: outcome.dryRun, details: outcome.details ?? null };
}

/** This web process has no fleet driver (its settings cannot work): said as is, with the cause it was given. */
class FleetUnavailable extends Error {}

function bodyOf(req: Request, fields: string[]): Record<string, unknown> {
  const body: unknown = req.body ?? {};
  if (typeof body !== "object" || body === null || Array.isArray(body)) throw new ValidationError(["(body): expected a JSON object"]);
  const unknown = Object.keys(body).filter((k) => !fields.includes(k));
  if (unknown.length > 0) throw new ValidationError(unknown.map((k) => `${k}: not a field of this order (it takes ${fields.map((f) => `"${f}"`).join(", ")})`));
  return body as Record<string, unknown>;
}

function dryRunOf(value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new ValidationError(["dry_run: expected true or false"]);
  return value;
}

function failingOf(value: unknown): boolean {
  if (value === undefined) return false;
  if (typeof value !== "boolean") throw new ValidationError(["failing: expected true (only the failing nodes) or false (every node)"]);
  return value;
}
