import { z } from "zod";
import type { Incident } from "../model.ts";
import { appendUpdate } from "./append-update.ts";
import { authorSchema, detailSchema, parseInput, type StatusContext } from "./context.ts";

export const resolveIncidentInput = z.strictObject({
  id: z.string().min(1).max(64),
  body: z.string().trim().min(1).max(20_000).default("This incident has been resolved."),
  detail: detailSchema,
  /** False: the resolution is not posted to status-page subscribers. @defaultValue true */
  notify: z.boolean().default(true),
  author: authorSchema,
  key: z.string().min(1).max(300).optional(),
});
export type ResolveIncidentInput = z.input<typeof resolveIncidentInput>;

/** Resolves an incident: its components go back to operational in it. */
export async function resolveIncident(
  ctx: StatusContext,
  rawInput: ResolveIncidentInput,
): Promise<{ incident: Incident; written: boolean }> {
  const input = parseInput(resolveIncidentInput, rawInput);
  return appendUpdate(ctx, { ...input, status: "resolved" });
}
