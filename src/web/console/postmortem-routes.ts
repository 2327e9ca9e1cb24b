import { Router, type Request, type Response } from "express";
import { allows } from "../../auth/index.ts";
import { NotFoundError, ValidationError } from "../../core/index.ts";
import { writePostmortem, type Incident, type StatusContext } from "../../status/index.ts";
import { authorOf, scopeFor, type AdminAuth } from "../auth.ts";
import { consoleWrite, messagePage, sessionOf } from "./guard.ts";
import type { ConsoleRenderer } from "./render.ts";

/** The longest postmortem the verb stores (writePostmortemInput). */
export const POSTMORTEM_MAX = 100_000;

/** What the postmortem form on a resolved incident's page shows; undefined while the incident is open. */
export function postmortemView(incident: Incident, failed?: { text: string; issues: string[] }) {
  if (incident.status !== "resolved" && incident.status !== "postmortem") return undefined;
  return {
    id: incident.id,
    written: Boolean(incident.postmortem),
    text: failed?.text ?? incident.postmortem ?? "",
    issues: failed?.issues ?? [],
    max: POSTMORTEM_MAX,
    maxWords: POSTMORTEM_MAX.toLocaleString("en"),
  };
}

/**
 * Writing or replacing a resolved incident's postmortem from the console,
 * through the same verb as POST /admin/api/incidents/:id/postmortem (scope
 * `incidents`, audited). The form sits on the incident's page; a problem
 * re-shows it on a page of its own with what was typed.
 */
export function postmortemRoutes(options: { status: StatusContext; auth: AdminAuth; render: ConsoleRenderer }): Router {
  const { status, render } = options;
  const router = Router();
  const write = consoleWrite(options.auth, render);
  const canWrite = (res: Response) => allows(sessionOf(res).actor, scopeFor("POST", "/admin/api/incidents/-/postmortem"));
  const back = (id: string) => ({ href: `/admin/incidents/${id}`, label: "Back to the incident" });

  const formPage = (res: Response, httpStatus: number, incident: Incident, failed?: { text: string; issues: string[] }) =>
    res.status(httpStatus).type("html").send(
      render.page("postmortem", { title: `Postmortem: ${incident.name}`, section: "incidents", session: sessionOf(res), canWrite: canWrite(res), csrf: sessionOf(res).csrf, incidentName: incident.name, postmortem: postmortemView(incident, failed) }),
    );

  const found = async (id: string, res: Response): Promise<Incident | undefined> => {
    const incident = await status.store.incident(id);
    if (!incident) messagePage(render, res, 404, "Not found", ["There is no such incident: the link may be wrong."], { section: "incidents", back: { href: "/admin/incidents", label: "All incidents" } });
    else if (!postmortemView(incident)) messagePage(render, res, 409, "Not yet", ["This incident is not resolved yet: resolve it before writing its postmortem."], { section: "incidents", back: back(incident.id) });
    else return incident;
    return undefined;
  };

  router.get("/incidents/:id/postmortem", async (req: Request<{ id: string }>, res: Response) => {
    const incident = await found(req.params.id, res);
    if (incident) formPage(res, 200, incident);
  });

  router.post("/incidents/:id/postmortem", ...write, async (req: Request<{ id: string }>, res: Response) => {
    const incident = await found(req.params.id, res);
    if (!incident) return;
    const value = (req.body as Record<string, unknown> | undefined)?.postmortem;
    if (value !== undefined && typeof value !== "string") return formPage(res, 400, incident, { text: "", issues: ["Postmortem: sent more than once; send it once"] });
    // Browsers send a textarea's line breaks as CRLF; the page and the API keep plain \n.
    const text = (value ?? "").replace(/\r\n?/g, "\n");
    if (text.trim() === "") return formPage(res, 400, incident, { text, issues: ["Postmortem: write what happened, why, and what will change"] });
    try {
      await writePostmortem(status, { id: incident.id, body: text, author: authorOf(res) });
    } catch (err) {
      if (err instanceof NotFoundError) return messagePage(render, res, 404, "Not found", ["There is no such incident: the link may be wrong."], { section: "incidents" });
      if (!(err instanceof ValidationError)) throw err;
      // A 1 MiB paste is named, not pasted back into the page.
      const shown = text.length > POSTMORTEM_MAX ? "" : text;
      return formPage(res, 400, incident, { text: shown, issues: err.issues.map((issue) => issue.replace(/^body: /, "Postmortem: ")) });
    }
    res.redirect(303, `/admin/incidents/${incident.id}?done=postmortem`);
  });

  return router;
}
