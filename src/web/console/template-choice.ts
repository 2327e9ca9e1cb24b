import type { Config } from "../../config/index.ts";
import { fillTemplate, listTemplates, readTemplate, type StatusContext } from "../../status/index.ts";
import type { ReadForm } from "./incident-form.ts";
import { blankValues } from "./incident-views.ts";

/** The composer's Template select: every template by name, the one in use marked. */
export async function templateChoices(status: StatusContext, chosen?: string) {
  return (await listTemplates(status)).map((t) => ({ id: t.id, name: t.name, selected: t.id === chosen }));
}

/**
 * How the composer starts for `?template=` (the "Use template" button is a
 * GET, so it works without JavaScript): a fresh form, or one prefilled with
 * the template's filled-in title and message and its components; an
 * unknown template is said by name of the field, with a fresh form.
 */
export async function composerStart(status: StatusContext, config: Config, query: unknown): Promise<{ httpStatus: number; read?: ReadForm; issues: string[]; chosen?: string }> {
  if (query === undefined || query === "") return { httpStatus: 200, issues: [] };
  const template = typeof query === "string" && query.length <= 64 ? await readTemplate(status, query) : undefined;
  if (!template) return { httpStatus: 404, issues: ["Template: there is no such template (it may have been deleted); choose another or start from a blank form"] };
  const filled = fillTemplate(template, { components: config.components, pageName: config.page.name });
  const known = new Set(config.components.map((c) => c.id));
  const components = Object.fromEntries(Object.entries(template.components).filter(([id]) => known.has(id)));
  return { httpStatus: 200, read: { values: { ...blankValues(), title: filled.title, message: filled.body, components }, issues: [] }, issues: [], chosen: template.id };
}
