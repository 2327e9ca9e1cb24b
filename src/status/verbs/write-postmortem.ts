import { z } from "zod";
import { NotFoundError, ValidationError } from "../../core/index.ts";
import type { Incident } from "../model.ts";
import { authorSchema, nowIso, parseInput, type StatusContext } from "./context.ts";

export const writePostmortemInput = z.strictObject({
  id: z.string().min(1).max(64),
  body: z.string().trim().min(1).max(100_000),
  author: authorSchema,
});

/**
 * Publishes (or replaces) the postmortem of a resolved incident; the
 * incident's status becomes `postmortem`, as on Statuspage.
 */
export async function writePostmortem(ctx: StatusContext, rawInput: z.input<typeof writePostmortemInput>): Promise<Incident> {
  const input = parseInput(writePostmortemInput, rawInput);
  const current = await ctx.store.incident(input.id);
  if (!current) throw new NotFoundError(`incident ${input.id}`);
  if (current.status !== "resolved" && current.status !== "postmortem") {
    throw new ValidationError([`id: incident ${input.id} is ${current.status}; resolve it before writing its postmortem`]);
  }
  const next: Incident = { ...current, status: "postmortem", postmortem: input.body, updated_at: nowIso(ctx), revision: current.revision + 1 };
  await ctx.store.writeIncident(next, { expectedRevision: current.revision });
  return next;
}
