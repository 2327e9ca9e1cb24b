import { z } from "zod";
import { COMPONENT_STATUSES, type ComponentConfig, type PublishMode } from "../../config/index.ts";
import { ValidationError } from "../../core/index.ts";
import { formatIssues } from "../../config/index.ts";
import type { StatusStore } from "../store.ts";

/** What every verb of the status room works with. */
export interface StatusContext {
  store: StatusStore;
  /** The configured components (names, order). */
  components: ComponentConfig[];
  /** The clock; tests replace it. @defaultValue () => new Date() */
  now?: () => Date;
  /**
   * `incidents.publish`: with `review`, what customers see of a component
   * follows public incidents only, never a probe's verdict alone (see
   * effectiveStatus). @defaultValue "auto"
   */
  publish?: PublishMode;
}

export const authorSchema = z.strictObject({
  kind: z.enum(["automatic", "person"]),
  name: z.string().min(1).max(100),
});

export const componentStatusSchema = z.enum(COMPONENT_STATUSES);

/** What on-call engineers read instead of the public body: the technical detail (never on a public surface). */
export const detailSchema = z.string().trim().min(1).max(20_000).optional();

/** Parses a verb's input, turning zod issues into one ValidationError. */
export function parseInput<T extends z.ZodType>(schema: T, input: unknown): z.output<T> {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new ValidationError(formatIssues(parsed.error.issues));
  return parsed.data;
}

/** Refuses component ids that are not configured. */
export function checkComponentIds(ctx: StatusContext, ids: Iterable<string>, at = "components"): void {
  const known = new Set(ctx.components.map((c) => c.id));
  const unknown = [...ids].filter((id) => !known.has(id));
  if (unknown.length > 0) {
    throw new ValidationError(unknown.map((id) => `${at}.${id}: no component has this id`));
  }
}

export function nowIso(ctx: StatusContext): string {
  return (ctx.now?.() ?? new Date()).toISOString();
}

export function componentName(ctx: StatusContext, id: string): string {
  return ctx.components.find((c) => c.id === id)?.name ?? id;
}
