import { z } from "zod";
import { ConflictError, ValidationError, newId } from "../../core/index.ts";
import { IncidentConflict } from "../store.ts";
import type { Maintenance } from "../model.ts";
import { authorSchema, checkComponentIds, nowIso, parseInput, type StatusContext } from "./context.ts";
import { notifySchema, remindBeforeMinutes } from "./maintenance.ts";

export const editMaintenanceInput = z.strictObject({
  id: z.string().min(1).max(64),
  name: z.string().trim().min(1).max(200).optional(),
  components: z.array(z.string()).min(1, { error: "name at least one component" }).optional(),
  scheduled_for: z.string().datetime({ offset: true, error: "expected an ISO 8601 time like 2026-12-01T02:00:00Z" }).optional(),
  scheduled_until: z.string().datetime({ offset: true, error: "expected an ISO 8601 time like 2026-12-01T03:00:00Z" }).optional(),
  /** A new message: a new entry on the window's timeline (what customers read now). */
  body: z.string().trim().min(1).max(20_000).optional(),
  /** Minutes before the start that the reminder goes out; 0 for none. A window moved gets a reminder for its new time. */
  remind_before_minutes: remindBeforeMinutes.optional(),
  notify: notifySchema.optional(),
  author: authorSchema,
});
export type EditMaintenanceInput = z.input<typeof editMaintenanceInput>;

/**
 * Changes a window that has not started yet: its name, components, times,
 * reminder, whether it is announced, or message (a new message is a new
 * timeline entry; the old ones stay).
 * A window in progress or over is a conflict: cancel it instead.
 */
export async function editMaintenance(ctx: StatusContext, rawInput: EditMaintenanceInput): Promise<Maintenance> {
  const input = parseInput(editMaintenanceInput, rawInput);
  if (input.components) checkComponentIds(ctx, input.components);
  const current = await ctx.store.maintenance(input.id);
  if (!current) throw new ValidationError([`id: no maintenance ${input.id}`]);
  if (current.status !== "scheduled") throw new ConflictError(`maintenance ${input.id} is ${current.status.replace("_", " ")}; only a scheduled window can be edited (cancel it to end it)`);
  const from = Date.parse(input.scheduled_for ?? current.scheduled_for);
  const until = Date.parse(input.scheduled_until ?? current.scheduled_until);
  if (until <= from) throw new ValidationError(["scheduled_until: must be after scheduled_for"]);
  const at = nowIso(ctx);
  const latestBody = current.updates.at(-1)?.body;
  const newBody = input.body !== undefined && input.body !== latestBody ? input.body : undefined;
  const next: Maintenance = {
    ...current,
    name: input.name ?? current.name,
    components: input.components ? [...new Set(input.components)] : current.components,
    scheduled_for: new Date(from).toISOString(),
    scheduled_until: new Date(until).toISOString(),
    remind_before_minutes: input.remind_before_minutes ?? current.remind_before_minutes,
    notify: input.notify ?? current.notify,
    updated_at: at,
    updates: newBody === undefined ? current.updates : [...current.updates, { id: newId(), status: "scheduled", body: newBody, created_at: at, author: input.author }],
    revision: current.revision + 1,
  };
  try {
    // The revision guard: a window the clock started meanwhile is not rewritten as scheduled.
    const written = await ctx.store.writeMaintenance(next, { expectedRevision: current.revision });
    if (!written) throw new ConflictError(`maintenance ${input.id} changed while it was being edited; reload it and try again`);
  } catch (err) {
    if (err instanceof IncidentConflict) throw new ConflictError(`maintenance ${input.id} changed while it was being edited; reload it and try again`);
    throw err;
  }
  return next;
}
