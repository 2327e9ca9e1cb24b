import { Router, type Request, type Response } from "express";
import { allows } from "../../auth/index.ts";
import type { Config } from "../../config/index.ts";
import { ConflictError, NotFoundError, ValidationError } from "../../core/index.ts";
import { TEMPLATE_PLACEHOLDERS, deleteTemplate, listTemplates, readTemplate, saveTemplate, type IncidentTemplate, type StatusContext } from "../../status/index.ts";
import { authorOf, scopeFor, type AdminAuth } from "../auth.ts";
import { consoleWrite, messagePage, sessionOf } from "./guard.ts";
import type { ConsoleRenderer } from "./render.ts";
import { labelTemplateIssues, readTemplateForm, templateComponents, templateFormView, templateValues, type TemplateFormValues } from "./template-form.ts";

export interface TemplateRoutesOptions {
  config: () => Config;
  status: StatusContext;
  auth: AdminAuth;
  render: ConsoleRenderer;
}

/** What `?done=` says after an action: fixed words. */
const DONE: Record<string, string> = { created: "Template saved.", saved: "Template saved.", deleted: "Template deleted." };

/**
 * The console's incident templates: the list, a form to create or edit one,
 * and a delete with a confirmation page. Writes call the verbs the admin
 * API's /admin/api/templates calls, after its scope check and audit log.
 */
export function templateRoutes(options: TemplateRoutesOptions): Router {
  const { status, render } = options;
  const router = Router();
  const write = consoleWrite(options.auth, render);
  const components = () => options.config().components;
  const canWrite = (res: Response) => allows(sessionOf(res).actor, scopeFor("POST", "/admin/api/templates"));
  const page = (res: Response, httpStatus: number, view: string, title: string, data: Record<string, unknown>) =>
    res.status(httpStatus).type("html").send(render.page(view, { title, section: "templates", session: sessionOf(res), canWrite: canWrite(res), csrf: sessionOf(res).csrf, placeholders: TEMPLATE_PLACEHOLDERS.map((p) => `{${p}}`).join(", "), ...data }));
  const editor = (res: Response, httpStatus: number, template: IncidentTemplate | undefined, values: TemplateFormValues, issues: string[] = []) =>
    page(res, httpStatus, "template-edit", template ? `Edit ${template.name}` : "New template", { template, form: templateFormView(template ? `/admin/templates/${template.id}` : "/admin/templates", values, components(), issues) });
  const found = async (id: string): Promise<IncidentTemplate> => {
    const template = await readTemplate(status, id);
    if (!template) throw new NotFoundError(`template ${id}`);
    return template;
  };

  router.get("/templates", async (req, res) => {
    const names = new Map(components().map((c) => [c.id, c.name]));
    const templates = (await listTemplates(status)).map((t) => ({ ...t, componentNames: Object.keys(t.components).map((id) => names.get(id) ?? id).join(", ") }));
    page(res, 200, "templates", "Incident templates", { templates, flash: typeof req.query.done === "string" ? DONE[req.query.done] : undefined });
  });
  router.get("/templates/new", (_req, res) => editor(res, 200, undefined, templateValues()));
  router.get("/templates/:id", async (req, res) => {
    const template = await found(req.params.id);
    editor(res, 200, template, templateValues(template));
  });
  router.get("/templates/:id/delete", async (req, res) => {
    page(res, 200, "template-delete", "Delete template", { template: await found(req.params.id) });
  });

  // Create (no id) or replace: the form's own problems, then the verb's, said on the form with what was typed.
  const save = async (req: Request<{ id?: string }>, res: Response) => {
    const template = req.params.id === undefined ? undefined : await found(req.params.id);
    const read = readTemplateForm(bodyOf(req), components());
    if (read.issues.length > 0) return editor(res, 400, template, read.values, read.issues);
    try {
      const saved = await saveTemplate(status, { name: read.values.name, title: read.values.title, body: read.values.body, components: templateComponents(read.values), ...(template && read.values.readAt ? { if_updated_at: read.values.readAt } : {}), author: authorOf(res) }, template?.id);
      res.redirect(303, `/admin/templates?done=${template ? "saved" : "created"}#template-${saved.id}`);
    } catch (err) {
      if (err instanceof ConflictError && template) {
        // What was typed stays; the form now carries the version saved meanwhile, so sending it again replaces that one knowingly.
        const now = await found(template.id);
        return editor(res, 409, now, { ...read.values, readAt: now.updated_at }, [`Not saved: ${now.updated_by} saved this template at ${now.updated_at.replace("T", " ").slice(0, 16)} UTC after you opened it. Your text is below; Save again to replace their version with it, or open the template again to see theirs.`]);
      }
      if (!(err instanceof ValidationError)) throw err;
      editor(res, 400, template, read.values, labelTemplateIssues(err.issues, components()));
    }
  };
  router.post("/templates", ...write, save);
  router.post("/templates/:id", ...write, save);
  router.post("/templates/:id/delete", ...write, async (req: Request<{ id: string }>, res: Response) => {
    await deleteTemplate(status, req.params.id);
    res.redirect(303, "/admin/templates?done=deleted");
  });

  router.use((err: unknown, _req: Request, res: Response, next: (err?: unknown) => void) => {
    if (!(err instanceof NotFoundError)) return next(err);
    messagePage(render, res, 404, "Not found", ["There is no such template: it may have been deleted, or the link is wrong."], { section: "templates", back: { href: "/admin/templates", label: "All templates" } });
  });
  return router;
}

function bodyOf(req: Request): Record<string, unknown> {
  const body: unknown = req.body;
  return body && typeof body === "object" && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
}
