import { z } from "zod";
import { noSuchId, templateProblem } from "../config/index.ts";
import { ConflictError, NotFoundError, ValidationError, newId } from "../core/index.ts";
import { listOf } from "./wording.ts";
import { authorSchema, componentStatusSchema, nowIso, parseInput, type StatusContext } from "./verbs/context.ts";
import type { ComponentStatus } from "./model.ts";

/**
 * Incident templates: a name, a title, a body and the components with the
 * status each gets, kept in the control plane for people composing an
 * incident. Title and body are plain text with a fixed set of `{name}`
 * placeholders filled by string replacement (fillTemplate): nothing in a
 * template is ever evaluated, and its text is stored as typed.
 */

/** The placeholders a template may use, each filled from the template's own components or the page. */
export const TEMPLATE_PLACEHOLDERS = ["components", "is", "has", "page"] as const;

const withPlaceholders = (max: number) =>
  z
    .string()
    .trim()
    .min(1, { error: "must not be empty" })
    .max(max)
    .superRefine((text, ctx) => {
      const problem = templateProblem(text, TEMPLATE_PLACEHOLDERS);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    });

export const saveTemplateInput = z.strictObject({
  name: z.string().trim().min(1, { error: "must not be empty" }).max(80),
  title: withPlaceholders(200),
  body: withPlaceholders(20_000),
  /** Component id → the status the incident gives it. @defaultValue none */
  components: z.record(z.string(), componentStatusSchema).default({}),
  /** A replace only: the `updated_at` the editor read. Refused (ConflictError) when someone saved it since. @defaultValue replace whatever is there */
  if_updated_at: z.string().max(40).optional(),
  author: authorSchema,
});
export type SaveTemplateInput = z.input<typeof saveTemplateInput>;

export interface IncidentTemplate {
  id: string;
  name: string;
  title: string;
  body: string;
  components: Record<string, ComponentStatus>;
  created_at: string;
  updated_at: string;
  /** Who saved it last. */
  updated_by: string;
}

const key = (ctx: StatusContext) => `${ctx.store.keys.prefix}:incident-templates`;

/** Every template, by name. */
export async function listTemplates(ctx: StatusContext): Promise<IncidentTemplate[]> {
  const raw = await ctx.store.redis.hvals(key(ctx));
  return raw.map((json) => JSON.parse(json) as IncidentTemplate).sort((a, b) => a.name.localeCompare(b.name, "en"));
}

/** One template, or undefined. */
export async function readTemplate(ctx: StatusContext, id: string): Promise<IncidentTemplate | undefined> {
  const raw = await ctx.store.redis.hget(key(ctx), id);
  return raw ? (JSON.parse(raw) as IncidentTemplate) : undefined;
}

/**
 * Creates a template (no `id`) or replaces one (NotFoundError when `id`
 * names none). Refuses unknown placeholders and component ids by name.
 */
export async function saveTemplate(ctx: StatusContext, rawInput: SaveTemplateInput, id?: string): Promise<IncidentTemplate> {
  const input = parseInput(saveTemplateInput, rawInput);
  const known = ctx.components.map((c) => c.id);
  const unknown = Object.keys(input.components).filter((c) => !known.includes(c));
  if (unknown.length > 0) throw new ValidationError(unknown.map((c) => `components.${c}: ${noSuchId("component", c, known)}`));
  const previous = id === undefined ? undefined : await readTemplate(ctx, id);
  if (id !== undefined && !previous) throw new NotFoundError(`template ${id}`);
  const at = nowIso(ctx);
  const template: IncidentTemplate = {
    id: previous?.id ?? newId(),
    name: input.name,
    title: input.title,
    body: input.body,
    components: input.components,
    created_at: previous?.created_at ?? at,
    updated_at: at,
    updated_by: input.author.name,
  };
  if (!previous) {
    await ctx.store.redis.hset(key(ctx), template.id, JSON.stringify(template));
    return template;
  }
  // Replaced only if it is still there and, when the editor said what it read, still as read: never a lost edit, never a deleted template back.
  const answer = (await ctx.store.redis.eval(REPLACE_LUA, 1, key(ctx), template.id, JSON.stringify(template), input.if_updated_at ?? "")) as string;
  if (answer === "missing") throw new NotFoundError(`template ${template.id}`);
  if (answer !== "ok") {
    const now = JSON.parse(answer) as IncidentTemplate;
    throw new ConflictError(`${now.updated_by} saved this template at ${now.updated_at}, after it was read (${input.if_updated_at}): nothing was saved`);
  }
  return template;
}

/** KEYS: the templates hash. ARGV: id, the new JSON, the updated_at the writer read ("" for any). "ok", "missing", or the template as it is now. */
const REPLACE_LUA = `
local current = redis.call("HGET", KEYS[1], ARGV[1])
if not current then return "missing" end
if ARGV[3] ~= "" and cjson.decode(current).updated_at ~= ARGV[3] then return current end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2])
return "ok"
`;

/** Deletes a template; NotFoundError when there is none by that id. */
export async function deleteTemplate(ctx: StatusContext, id: string): Promise<IncidentTemplate> {
  const previous = await readTemplate(ctx, id);
  if (!previous || (await ctx.store.redis.hdel(key(ctx), id)) === 0) throw new NotFoundError(`template ${id}`);
  return previous;
}

/**
 * A template's title and body with each placeholder replaced by its value:
 * `{components}` the names of its components ("Chat and Q&A"), `{is}` /
 * `{has}` as they need, `{page}` the page's name. One pass of string
 * replacement, so a value that looks like a placeholder stays as it is.
 */
export function fillTemplate(template: Pick<IncidentTemplate, "title" | "body" | "components">, ctx: { components: StatusContext["components"]; pageName: string }): { title: string; body: string } {
  const names = Object.keys(template.components).map((id) => ctx.components.find((c) => c.id === id)?.name ?? id);
  const plural = names.length > 1;
  const values: Record<string, string> = { components: listOf(names), is: plural ? "are" : "is", has: plural ? "have" : "has", page: ctx.pageName };
  const fill = (text: string) => text.replace(/\{([a-z]+)\}/g, (whole, name: string) => (Object.hasOwn(values, name) ? values[name]! : whole));
  return { title: fill(template.title), body: fill(template.body) };
}
