import { Router, type Request, type Response } from "express";
import { NotFoundError, ValidationError } from "../core/index.ts";
import { deleteTemplate, listTemplates, readTemplate, saveTemplate, type SaveTemplateInput, type StatusContext } from "../status/index.ts";
import { authorOf } from "./auth.ts";

/**
 * /admin/api/templates: incident templates (read with `read`, changed with
 * `incidents`, audited like every admin write). Bodies go to the verbs as
 * they came; saveTemplate parses and names each bad field.
 */
export function adminTemplatesRouter(options: { status: StatusContext }): Router {
  const { status } = options;
  const router = Router();
  router.get("/templates", async (_req, res) => {
    res.json({ templates: await listTemplates(status) });
  });
  router.get("/templates/:id", async (req, res) => {
    const template = await readTemplate(status, req.params.id);
    if (!template) throw new NotFoundError(`template ${req.params.id}`);
    res.json({ template });
  });
  router.post("/templates", async (req, res) => {
    res.status(201).json({ template: await saveTemplate(status, inputOf(req, res)) });
  });
  router.put("/templates/:id", async (req, res) => {
    res.json({ template: await saveTemplate(status, inputOf(req, res), req.params.id) });
  });
  router.delete("/templates/:id", async (req, res) => {
    res.json({ template: await deleteTemplate(status, req.params.id) });
  });
  return router;
}

function inputOf(req: Request, res: Response): SaveTemplateInput {
  const body: unknown = req.body;
  if (body === undefined || typeof body !== "object" || body === null || Array.isArray(body)) throw new ValidationError(["(body): expected a JSON object with name, title, body and components"]);
  if ("author" in body) throw new ValidationError(["author: not a field of a template (the token's name is credited)"]);
  return { ...(body as Record<string, unknown>), author: authorOf(res) } as SaveTemplateInput;
}
