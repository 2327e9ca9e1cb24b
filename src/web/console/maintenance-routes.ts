import { Router, type Request, type Response } from "express";
import { allows } from "../../auth/index.ts";
import type { Config } from "../../config/index.ts";
import { ConflictError, NotFoundError, ValidationError } from "../../core/index.ts";
import { cancelMaintenance, editMaintenance, scheduleMaintenance, type Maintenance, type StatusContext } from "../../status/index.ts";
import { authorOf, scopeFor, type AdminAuth } from "../auth.ts";
import { consoleWrite, messagePage, sessionOf } from "./guard.ts";
import { labelMaintenanceIssues, NEW_MAINTENANCE_VALUES, readMaintenanceForm, valuesOf, type ReadMaintenanceForm } from "./maintenance-form.ts";
import { maintenanceFormView, maintenanceLists, maintenanceRow } from "./maintenance-views.ts";
import type { ConsoleRenderer } from "./render.ts";

export interface MaintenanceRoutesOptions {
  config: () => Config;
  status: StatusContext;
  auth: AdminAuth;
  render: ConsoleRenderer;
}

/** What `?done=` says after an action: fixed words. */
const DONE: Record<string, string> = { scheduled: "Maintenance scheduled.", saved: "Changes saved.", cancelled: "Maintenance cancelled." };
/** How many completed windows the list shows. */
const COMPLETED_SHOWN = 30;
const CANCEL_BODY_MAX = 20_000;

/**
 * The console's maintenance windows: the list (in progress, scheduled,
 * completed), scheduling one, editing one that has not started, and
 * cancelling one after a confirmation page. Pages live under
 * /admin/maintenance; the forms post to /admin/maintenances…, the admin
 * API's own paths, so its scope check (`incidents`) and audit log apply.
 */
export function maintenanceRoutes(options: MaintenanceRoutesOptions): Router {
  const { status, render } = options;
  const router = Router();
  const write = consoleWrite(options.auth, render);
  const components = () => options.config().components;
  const canWrite = (res: Response) => allows(sessionOf(res).actor, scopeFor("POST", "/admin/api/maintenances"));
  const page = (res: Response, httpStatus: number, view: string, title: string, data: Record<string, unknown>) =>
    res.status(httpStatus).type("html").send(render.page(view, { title, section: "maintenance", session: sessionOf(res), canWrite: canWrite(res), csrf: sessionOf(res).csrf, ...data }));
  const back = { href: "/admin/maintenance", label: "All maintenance" };

  const found = async (id: string): Promise<Maintenance> => {
    const maintenance = await status.store.maintenance(id);
    if (!maintenance) throw new NotFoundError(`maintenance ${id}`);
    return maintenance;
  };

  router.get("/maintenances", (_req, res) => res.redirect(303, "/admin/maintenance"));
  router.get("/maintenance", async (req, res) => {
    const [open, recent] = await Promise.all([status.store.openMaintenances(), status.store.recentMaintenances(COMPLETED_SHOWN * 2)]);
    const lists = maintenanceLists(open, recent, components());
    page(res, 200, "maintenances", "Maintenance", { ...lists, completed: lists.completed.slice(0, COMPLETED_SHOWN), flash: doneOf(req) });
  });

  const creator = (res: Response, httpStatus: number, read?: ReadMaintenanceForm, issues: string[] = []) =>
    page(res, httpStatus, "maintenance-new", "Schedule maintenance", {
      form: maintenanceFormView("create", "/admin/maintenances", read?.values ?? NEW_MAINTENANCE_VALUES, components(), { issues, key: read?.key }),
    });
  router.get("/maintenance/new", (_req, res) => creator(res, 200));

  router.post("/maintenances", ...write, async (req, res) => {
    const read = readMaintenanceForm(bodyOf(req), components());
    if (!read.input) return creator(res, 400, read, read.issues);
    try {
      const { maintenance } = await scheduleMaintenance(status, { ...read.input, source: "admin", author: authorOf(res), ...(read.key ? { key: `console:${read.key}` } : {}) });
      res.redirect(303, `/admin/maintenance/${maintenance.id}?done=scheduled`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      creator(res, 400, read, labelMaintenanceIssues(err.issues));
    }
  });

  const windowPage = (req: Request, res: Response, httpStatus: number, maintenance: Maintenance, failed?: { read: ReadMaintenanceForm; issues: string[] }) => {
    const editable = maintenance.status === "scheduled";
    page(res, httpStatus, "maintenance", maintenance.name, {
      maintenance: maintenanceRow(maintenance, components()),
      updates: [...maintenance.updates].reverse(),
      flash: doneOf(req),
      form: editable ? maintenanceFormView("edit", `/admin/maintenances/${maintenance.id}`, failed?.read.values ?? valuesOf(maintenance), components(), { issues: failed?.issues }) : undefined,
      cancellable: maintenance.status !== "completed",
    });
  };
  router.get("/maintenance/:id", async (req, res) => windowPage(req, res, 200, await found(req.params.id)));

  router.post("/maintenances/:id", ...write, async (req: Request<{ id: string }>, res: Response) => {
    const maintenance = await found(req.params.id);
    const notSaved = (words: string) => messagePage(render, res, 409, "Not saved", [words], { section: "maintenance", back: { href: `/admin/maintenance/${maintenance.id}`, label: "Back to the window" } });
    if (maintenance.status !== "scheduled") return notSaved(`This window is ${maintenanceRow(maintenance, components()).state.toLowerCase()}; only a scheduled window can be edited (cancel it to end it). Nothing was changed.`);
    const read = readMaintenanceForm(bodyOf(req), components());
    if (!read.input) return windowPage(req, res, 400, maintenance, { read, issues: read.issues });
    try {
      await editMaintenance(status, { id: maintenance.id, ...read.input, author: authorOf(res) });
      res.redirect(303, `/admin/maintenance/${maintenance.id}?done=saved`);
    } catch (err) {
      if (err instanceof ConflictError) return notSaved(`${err.message}. Nothing was changed.`);
      if (!(err instanceof ValidationError)) throw err;
      windowPage(req, res, 400, maintenance, { read, issues: labelMaintenanceIssues(err.issues) });
    }
  });

  const confirmPage = (res: Response, httpStatus: number, maintenance: Maintenance, issues: string[] = [], message = "") =>
    page(res, httpStatus, "maintenance-cancel", `Cancel ${maintenance.name}`, { maintenance: maintenanceRow(maintenance, components()), issues, message });
  router.get("/maintenance/:id/cancel", async (req, res) => {
    const maintenance = await found(req.params.id);
    if (maintenance.status === "completed") return messagePage(render, res, 409, "Already over", ["This window has already completed; there is nothing to cancel."], { section: "maintenance", back });
    confirmPage(res, 200, maintenance);
  });

  router.post("/maintenances/:id/cancel", ...write, async (req: Request<{ id: string }>, res: Response) => {
    const maintenance = await found(req.params.id);
    const form = bodyOf(req);
    if (maintenance.status === "completed") return messagePage(render, res, 409, "Already over", ["This window has already completed; nothing was changed."], { section: "maintenance", back });
    if (form.confirm !== "yes") return confirmPage(res, 400, maintenance, ["Confirm: send the cancellation from this page's Cancel the window button"]);
    if (form.message !== undefined && typeof form.message !== "string") return confirmPage(res, 400, maintenance, ["Message: sent more than once; send it once"]);
    const message = (form.message ?? "").trim();
    if (message.length > CANCEL_BODY_MAX) return confirmPage(res, 400, maintenance, [`Message: at most ${CANCEL_BODY_MAX.toLocaleString("en")} characters (got ${message.length.toLocaleString("en")})`]);
    await cancelMaintenance(status, { id: maintenance.id, author: authorOf(res), ...(message ? { body: message } : {}) });
    res.redirect(303, `/admin/maintenance/${maintenance.id}?done=cancelled`);
  });

  router.use((err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (!(err instanceof NotFoundError) || !err.message.startsWith("maintenance")) return next(err);
    messagePage(render, res, 404, "Not found", ["There is no such maintenance window: the link may be wrong."], { section: "maintenance", back });
  });

  return router;
}

function doneOf(req: Request): string | undefined {
  return typeof req.query.done === "string" ? DONE[req.query.done] : undefined;
}

function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}
