import { Router, type Request, type Response } from "express";
import { allows } from "../../auth/index.ts";
import type { Config } from "../../config/index.ts";
import { ConflictError, NotFoundError, ValidationError } from "../../core/index.ts";
import { publishDraft } from "../../pipeline/index.ts";
import { appendUpdate, openIncident, resolveIncident, type Incident, type StatusContext } from "../../status/index.ts";
import type { PlaybookAdmin } from "../admin-playbooks.ts";
import { authorOf, scopeFor, type AdminAuth } from "../auth.ts";
import { consoleWrite, messagePage, sessionOf } from "./guard.ts";
import { chosenComponents, labelIssues, readIncidentForm, type IncidentFormShape, type ReadForm } from "./incident-form.ts";
import { blankValues, formView, incidentLists, incidentPage, type FormKind } from "./incident-views.ts";
import { incidentDetails } from "./incident-details.ts";
import { postmortemView } from "./postmortem-routes.ts";
import type { ConsoleRenderer } from "./render.ts";
import { composerStart, templateChoices } from "./template-choice.ts";

export interface IncidentRoutesOptions {
  config: () => Config;
  status: StatusContext;
  auth: AdminAuth;
  render: ConsoleRenderer;
  /** For the playbook runs an incident's page lists. @defaultValue none listed */
  playbooks?: PlaybookAdmin;
}

/** What `?done=` says after an action: fixed words. */
const DONE: Record<string, string> = { published: "Published.", updated: "Update posted.", resolved: "Incident resolved.", "draft-published": "Published: customers see it from now on.", postmortem: "Postmortem saved: the public page shows it." };
/** The most a person may write as a draft's first public words. */
const PUBLISH_BODY_MAX = 20_000;
/** How many resolved incidents the list shows. */
const PAST_SHOWN = 50;

/**
 * The console's incidents: the list (open first), the composer, one
 * incident with its public and on-call timelines side by side, and forms
 * to post an update and to resolve. Writes call the same verbs as the
 * admin API, after its scope check and audit log (consoleWrite).
 */
export function incidentRoutes(options: IncidentRoutesOptions): Router {
  const { status, render } = options;
  const router = Router();
  const write = consoleWrite(options.auth, render);
  const components = () => options.config().components;
  const canWrite = (res: Response) => allows(sessionOf(res).actor, scopeFor("POST", "/admin/api/incidents"));
  const page = (res: Response, httpStatus: number, view: string, title: string, data: Record<string, unknown>) =>
    res.status(httpStatus).type("html").send(render.page(view, { title, section: "incidents", session: sessionOf(res), canWrite: canWrite(res), csrf: sessionOf(res).csrf, ...data }));

  router.get("/incidents", async (_req, res) => {
    const [unresolved, recent] = await Promise.all([status.store.unresolvedIncidents(), status.store.recentIncidentsAndDrafts(PAST_SHOWN + 20)]);
    const lists = incidentLists(unresolved, recent, components());
    page(res, 200, "incidents", "Incidents", { drafts: lists.drafts, open: lists.open, past: lists.past.slice(0, PAST_SHOWN) });
  });

  const composer = async (res: Response, httpStatus: number, read?: ReadForm, issues: string[] = [], template?: string) =>
    page(res, httpStatus, "incident-new", "New incident", { templates: await templateChoices(status, template), form: formView("compose", "/admin/incidents", read?.values ?? blankValues(), components(), { issues, key: read?.key }) });

  router.get("/incidents/new", async (req, res) => {
    const start = await composerStart(status, options.config(), req.query.template);
    await composer(res, start.httpStatus, start.read, start.issues, start.chosen);
  });

  router.post("/incidents", ...write, async (req, res) => {
    const read = readIncidentForm(bodyOf(req), shapeOf("compose"));
    if (read.issues.length > 0) return composer(res, 400, read, read.issues);
    try {
      const { incident } = await openIncident(status, {
        name: read.values.title,
        status: read.values.status as "investigating",
        body: read.values.message,
        components: chosenComponents(read.values),
        notify: read.values.notify,
        author: authorOf(res),
        ...(read.key ? { key: `console:${read.key}` } : {}),
      });
      res.redirect(303, `/admin/incidents/${incident.id}?done=published`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await composer(res, 400, read, labelIssues(err.issues, components()));
    }
  });

  const incidentView = async (req: Request, res: Response, httpStatus: number, incident: Incident, failed?: { kind: FormKind; read: ReadForm; issues: string[] }) => {
    const view = incidentPage(incident, components());
    const details = await incidentDetails(options.config(), status, options.playbooks, incident);
    const values = (kind: FormKind) => (failed?.kind === kind ? failed.read.values : blankValues(incident));
    const form = (kind: FormKind, action: string) =>
      formView(kind, action, values(kind), components(), { affected: incident.components, ...(failed?.kind === kind ? { issues: failed.issues, key: failed.read.key } : {}) });
    page(res, httpStatus, "incident", incident.name, {
      ...view,
      details,
      flash: typeof req.query.done === "string" ? DONE[req.query.done] : undefined,
      updateForm: form("update", `/admin/incidents/${incident.id}/updates`),
      resolveForm: incident.status === "resolved" || incident.status === "postmortem" ? undefined : form("resolve", `/admin/incidents/${incident.id}/resolve`),
      postmortem: postmortemView(incident),
    });
  };

  const found = async (id: string): Promise<Incident> => {
    const incident = await status.store.incident(id);
    if (!incident) throw new NotFoundError(`incident ${id}`);
    return incident;
  };

  router.get("/incidents/:id", async (req, res) => incidentView(req, res, 200, await found(req.params.id)));

  // An update or a resolution: the form's own problems, then the verb's, said on the incident's page.
  const change = (kind: "update" | "resolve") => async (req: Request<{ id: string }>, res: Response) => {
    const incident = await found(req.params.id);
    const read = readIncidentForm(bodyOf(req), shapeOf(kind, incident));
    if (read.issues.length > 0) return incidentView(req, res, 400, incident, { kind, read, issues: read.issues });
    const common = { id: incident.id, notify: read.values.notify, author: authorOf(res), ...(read.key ? { key: `console:${read.key}` } : {}) };
    try {
      if (kind === "resolve") await resolveIncident(status, { ...common, ...(read.values.message.trim() ? { body: read.values.message } : {}) });
      else await appendUpdate(status, { ...common, status: read.values.status as "investigating", body: read.values.message, components: chosenComponents(read.values) });
      res.redirect(303, `/admin/incidents/${incident.id}?done=${kind === "resolve" ? "resolved" : "updated"}`);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      await incidentView(req, res, 400, incident, { kind, read, issues: labelIssues(err.issues, components()) });
    }
  };
  // A draft (incidents.publish: review) goes public, with the automatic wording unless the person wrote the first words.
  router.post("/incidents/:id/publish", ...write, async (req: Request<{ id: string }>, res: Response) => {
    const incident = await found(req.params.id);
    const form = bodyOf(req);
    const message = typeof form.message === "string" ? form.message.trim() : "";
    const key = typeof form.key === "string" && /^[A-Za-z0-9_-]{1,64}$/.test(form.key) ? form.key : undefined;
    if (message.length > PUBLISH_BODY_MAX) {
      return messagePage(render, res, 400, "Not published", [`Message: at most ${PUBLISH_BODY_MAX.toLocaleString("en")} characters (got ${message.length.toLocaleString("en")}); nothing was published.`], { section: "incidents", back: { href: `/admin/incidents/${incident.id}`, label: "Back to the incident" } });
    }
    try {
      await publishDraft(options.config(), status, { id: incident.id, author: authorOf(res), automatically: false, ...(message ? { body: message } : {}), ...(key ? { key: `console:${key}` } : {}) });
    } catch (err) {
      if (!(err instanceof ConflictError) && !(err instanceof ValidationError)) throw err;
      const [code, words] = err instanceof ConflictError ? [409, [err.message]] : [400, err.issues.map((issue) => `Message: ${issue}`)];
      return messagePage(render, res, code, "Not published", words, { section: "incidents", back: { href: `/admin/incidents/${incident.id}`, label: "Back to the incident" } });
    }
    res.redirect(303, `/admin/incidents/${incident.id}?done=draft-published`);
  });
  router.post("/incidents/:id/updates", ...write, change("update"));
  router.post("/incidents/:id/resolve", ...write, change("resolve"));

  router.use((err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (!(err instanceof NotFoundError)) return next(err);
    messagePage(render, res, 404, "Not found", ["There is no such incident: the link may be wrong."], { section: "incidents", back: { href: "/admin/incidents", label: "All incidents" } });
  });

  function shapeOf(kind: FormKind, incident?: Incident): IncidentFormShape {
    return { title: kind === "compose", statuses: kind !== "resolve", messageRequired: kind !== "resolve", components: kind === "resolve" ? [] : components(), affected: incident?.components };
  }

  return router;
}

function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}
