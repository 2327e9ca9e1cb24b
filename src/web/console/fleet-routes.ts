import { Router, type Request, type Response } from "express";
import { allows } from "../../auth/index.ts";
import { describeError, ValidationError, type Logger } from "../../core/index.ts";
import { FleetError, type FleetDriver } from "../../fleet/index.ts";
import { scopeFor, type AdminAuth } from "../auth.ts";
import { actionsOf, cacheModeOf, carryOut, FLEET_READ_MS, fleetErrorStatus, fleetOverview, replicasOf, type FleetAccess, type FleetOrder } from "../fleet-orders.ts";
import { fleetForms, fleetNodes, orderWords } from "./fleet-views.ts";
import { consoleWrite, messagePage, sessionOf } from "./guard.ts";
import type { ConsoleRenderer } from "./render.ts";

export interface FleetRoutesOptions {
  auth: AdminAuth;
  render: ConsoleRenderer;
  /** The configured fleet driver (or why there is none), as the admin API reaches it. */
  fleet: () => FleetAccess;
  log: Logger;
}

/** How often the page's script fetches the live part again. */
export const FLEET_REFRESH_MS = 5_000;
/** Node ids as drivers name them (`node-0`, a pod name); anything else is no node of ours. */
const NODE_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,252}$/;
/** What `?done=` says after an order: fixed words. */
const DONE: Record<string, string> = {
  restart: "Node restarted.",
  rolling: "Every node restarted, one by one.",
  scale: "The fleet was scaled.",
  cache_mode: "Cache mode switched.",
};
/** Form fields by their labels, for the problems a form gets back. */
const LABELS: Record<string, string> = { nodes: "Nodes", mode: "Cache mode" };

/** How an order arrives: from the path, the query (a confirmation page) or the form (the order itself). */
type OrderOf = (req: Request, fields: Record<string, unknown>) => FleetOrder;

/**
 * The console's fleet page: the gateway nodes (state, connections, intake,
 * restarts) and the cache mode, read through the configured fleet driver
 * and refreshed live by a small script (without it: as at load, and a
 * Refresh link); and the orders the driver is set up for, each behind a
 * confirmation page that says what will happen (with the driver's own dry
 * run) before a POST carries it out. Orders go through the admin API's
 * scope check (`fleet`) and audit log, and the same functions its
 * /admin/api/fleet routes call.
 */
export function fleetRoutes(options: FleetRoutesOptions): Router {
  const { render } = options;
  const log = options.log.child({ module: "web.console.fleet" });
  const router = Router();
  const write = consoleWrite(options.auth, render);
  const canWrite = (res: Response) => allows(sessionOf(res).actor, scopeFor("POST", "/admin/api/fleet/restart"));
  const common = (res: Response) => ({ section: "fleet" as const, session: sessionOf(res), canWrite: canWrite(res), csrf: sessionOf(res).csrf });

  /** The live part's data: the fleet now, or in words why it cannot be read. */
  const live = async () => {
    const access = options.fleet();
    const readAt = new Date().toISOString();
    if ("problem" in access) return { readAt, problem: access.problem };
    try {
      const overview = await fleetOverview(access.driver);
      return { readAt, overview, ...fleetNodes(overview) };
    } catch (err) {
      // The page says so, every 5 s while it is open; probes and playbooks report a fleet that is down.
      log.debug({ err: describeError(err) }, "cannot read the fleet for the console");
      return { readAt, problem: err instanceof FleetError ? err.message : `the fleet did not answer within ${FLEET_READ_MS / 1000} s (${describeError(err)})` };
    }
  };

  router.get("/fleet", async (req, res) => {
    const now = await live();
    const driver = driverOf(options.fleet());
    res.type("html").send(
      render.page("fleet", {
        title: "Fleet",
        ...common(res),
        live: now,
        forms: driver && fleetForms(actionsOf(driver), "overview" in now ? now.overview.cache_mode : null),
        refreshMs: FLEET_REFRESH_MS,
        refreshEvery: `${FLEET_REFRESH_MS / 1000} s`,
        flash: typeof req.query.done === "string" ? DONE[req.query.done] : undefined,
      }),
    );
  });

  // The live part alone, for the page's script; no layout, nothing cached.
  router.get("/fleet/live", async (_req, res) => {
    res.type("html").send(render.fragment("fleet-live", { ...common(res), live: await live() }));
  });

  /** A confirmation page: what the order does, the driver's dry run of it, and the button that sends it. */
  const confirmPage = async (res: Response, httpStatus: number, order: FleetOrder | undefined, issues: string[] = []) => {
    const words = order && orderWords(order);
    let preview: string | undefined;
    let blocked = false;
    const access = options.fleet();
    const driver = driverOf(access);
    if (order && "problem" in access) {
      httpStatus = 503;
      issues = [`The fleet cannot be reached: ${access.problem}.`];
      blocked = true;
    } else if (order && driver && canWrite(res) && issues.length === 0) {
      try {
        preview = (await carryOut(driver, order, true, 2 * FLEET_READ_MS)).summary;
      } catch (err) {
        if (!(err instanceof FleetError)) throw err;
        httpStatus = fleetErrorStatus(err);
        issues = [`The fleet driver refused a dry run of it: ${err.message}`];
        blocked = true;
      }
    }
    res.status(httpStatus).type("html").send(render.page("fleet-confirm", { title: words?.title ?? "Fleet order", ...common(res), order: words, preview, blocked, issues }));
  };

  /** GET: its confirmation page. POST: the order, once confirmed. */
  const orderRoutes = (path: string, done: string, orderOf: OrderOf) => {
    router.get(path, async (req, res) => {
      const read = readOrder(orderOf, req, req.query as Record<string, unknown>);
      if ("issues" in read) return confirmPage(res, read.status, undefined, read.issues);
      await confirmPage(res, 200, read.order);
    });
    router.post(path, ...write, async (req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const read = readOrder(orderOf, req, body);
      if ("issues" in read) return confirmPage(res, read.status, undefined, read.issues);
      if (body.confirm !== "yes") return confirmPage(res, 400, read.order, [`Not confirmed, so nothing was done: press "${orderWords(read.order).button}" below to carry it out.`]);
      const access = options.fleet();
      if ("problem" in access) return messagePage(render, res, 503, "Not done", [`Nothing was changed: ${access.problem}.`], { section: "fleet", back: BACK });
      try {
        await carryOut(access.driver, read.order, false);
      } catch (err) {
        if (!(err instanceof FleetError)) throw err;
        return messagePage(render, res, fleetErrorStatus(err), "Not done", [`The fleet driver could not carry it out: ${err.message}.`, "The fleet page shows where it stands now."], { section: "fleet", back: BACK });
      }
      res.redirect(303, `/admin/fleet?done=${done}`);
    });
  };

  orderRoutes("/fleet/nodes/:id/restart", "restart", (req) => ({ action: "restart", target: { node: nodeOf(req.params.id) } }));
  orderRoutes("/fleet/restart", "rolling", () => ({ action: "restart", target: { rolling: true } }));
  orderRoutes("/fleet/scale", "scale", (_req, fields) => ({ action: "scale", replicas: replicasOf(one(fields.nodes, "nodes")) }));
  orderRoutes("/fleet/cache-mode", "cache_mode", (_req, fields) => ({ action: "cache_mode", mode: cacheModeOf(one(fields.mode, "mode")) }));

  return router;
}

const BACK = { href: "/admin/fleet", label: "Back to the fleet" };

function driverOf(access: FleetAccess): FleetDriver | undefined {
  return "driver" in access ? access.driver : undefined;
}

/** The order a request names, or its problems by the form's labels (a node id that is none is 404). */
function readOrder(orderOf: OrderOf, req: Request, fields: Record<string, unknown>): { order: FleetOrder } | { issues: string[]; status: number } {
  try {
    return { order: orderOf(req, fields) };
  } catch (err) {
    if (err instanceof NoSuchNode) return { issues: ["There is no such node: the link may be wrong."], status: 404 };
    if (!(err instanceof ValidationError)) throw err;
    return { issues: err.issues.map(labelled), status: 400 };
  }
}

class NoSuchNode extends Error {}

function nodeOf(id: string | string[] | undefined): string {
  if (typeof id !== "string" || !NODE_ID.test(id)) throw new NoSuchNode();
  return id;
}

/** A form field sent once: a field sent twice is named, not guessed at. */
function one(value: unknown, field: string): unknown {
  if (Array.isArray(value)) throw new ValidationError([`${field}: sent more than once; send it once`]);
  if (value === undefined || value === "") throw new ValidationError([`${field}: ${field === "nodes" ? "say how many nodes the fleet should run" : 'choose "normal" or "bypass"'}`]);
  return value;
}

function labelled(issue: string): string {
  const colon = issue.indexOf(": ");
  const label = LABELS[issue.slice(0, colon)];
  return label ? `${label}: ${issue.slice(colon + 2)}` : issue;
}
