import { z } from "zod";
import { ValidationError, newId, stableId } from "../../core/index.ts";
import { IncidentConflict } from "../store.ts";
import type { Author, Maintenance, MaintenanceStatus } from "../model.ts";
import { authorSchema, checkComponentIds, nowIso, parseInput, type StatusContext } from "./context.ts";
import { refreshEffective } from "./refresh-effective.ts";

export const scheduleMaintenanceInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  components: z.array(z.string()).min(1, { error: "name at least one component" }),
  scheduled_for: z.string().datetime({ offset: true, error: "expected an ISO 8601 time like 2026-12-01T02:00:00Z" }),
  scheduled_until: z.string().datetime({ offset: true, error: "expected an ISO 8601 time like 2026-12-01T03:00:00Z" }),
  body: z.string().trim().min(1).max(20_000),
  source: z.enum(["config", "admin"]).default("admin"),
  author: authorSchema,
  /** Idempotency key: the same key schedules one window (config windows use their id and start). */
  key: z.string().min(1).max(300).optional(),
});
export type ScheduleMaintenanceInput = z.input<typeof scheduleMaintenanceInput>;

/** Schedules a maintenance window; it starts and completes by itself (see advanceMaintenances). */
export async function scheduleMaintenance(ctx: StatusContext, rawInput: ScheduleMaintenanceInput): Promise<{ maintenance: Maintenance; created: boolean }> {
  const input = parseInput(scheduleMaintenanceInput, rawInput);
  checkComponentIds(ctx, input.components);
  const from = Date.parse(input.scheduled_for);
  const until = Date.parse(input.scheduled_until);
  if (until <= from) throw new ValidationError(["scheduled_until: must be after scheduled_for"]);
  const id = input.key ? stableId(`maintenance:${input.key}`) : newId();
  const existing = await ctx.store.maintenance(id);
  if (existing) return { maintenance: existing, created: false };
  const at = nowIso(ctx);
  const maintenance: Maintenance = {
    id,
    name: input.name,
    status: "scheduled",
    components: [...new Set(input.components)],
    scheduled_for: new Date(from).toISOString(),
    scheduled_until: new Date(until).toISOString(),
    created_at: at,
    updated_at: at,
    started_at: null,
    completed_at: null,
    updates: [{ id: newId(), status: "scheduled", body: input.body, created_at: at, author: input.author }],
    source: input.source,
    revision: 1,
  };
  const written = await ctx.store.writeMaintenance(maintenance, { key: input.key });
  if (!written) return { maintenance: (await ctx.store.maintenance(id)) ?? maintenance, created: false };
  return { maintenance, created: true };
}

const SYSTEM: Author = { kind: "automatic", name: "Pulseboard" };

/**
 * Starts windows whose time has come and completes those that are over, with
 * a timeline entry each; returns the ones that changed. Run every few seconds
 * by the scheduler; safe to run anywhere any number of times.
 */
export async function advanceMaintenances(ctx: StatusContext, now = Date.now()): Promise<Maintenance[]> {
  const changed: Maintenance[] = [];
  for (const maintenance of await ctx.store.openMaintenances()) {
    const next = nextStatus(maintenance, now);
    if (!next) continue;
    const body =
      next === "in_progress"
        ? "Scheduled maintenance is currently in progress. We will provide updates as necessary."
        : "The scheduled maintenance has been completed.";
    const written = await transition(ctx, maintenance, next, body, SYSTEM, now);
    if (written) changed.push(written);
  }
  if (changed.length > 0) await refreshEffective(ctx, new Set(changed.flatMap((m) => m.components)));
  return changed;
}

export const cancelMaintenanceInput = z.strictObject({
  id: z.string().min(1).max(64),
  body: z.string().trim().min(1).max(20_000).default("This scheduled maintenance has been cancelled."),
  author: authorSchema,
});

/** Ends a window early (or before it starts): it completes at once. */
export async function cancelMaintenance(ctx: StatusContext, rawInput: z.input<typeof cancelMaintenanceInput>): Promise<Maintenance> {
  const input = parseInput(cancelMaintenanceInput, rawInput);
  const maintenance = await ctx.store.maintenance(input.id);
  if (!maintenance) throw new ValidationError([`id: no maintenance ${input.id}`]);
  if (maintenance.status === "completed") return maintenance;
  const done = await transition(ctx, maintenance, "completed", input.body, input.author, Date.now());
  await refreshEffective(ctx, maintenance.components);
  return done ?? maintenance;
}

function nextStatus(maintenance: Maintenance, now: number): MaintenanceStatus | undefined {
  if (now >= Date.parse(maintenance.scheduled_until)) return "completed";
  if (maintenance.status === "scheduled" && now >= Date.parse(maintenance.scheduled_for)) return "in_progress";
  return undefined;
}

async function transition(
  ctx: StatusContext,
  maintenance: Maintenance,
  status: MaintenanceStatus,
  body: string,
  author: Author,
  now: number,
): Promise<Maintenance | undefined> {
  const at = new Date(now).toISOString();
  const next: Maintenance = {
    ...maintenance,
    status,
    updated_at: at,
    started_at: status === "in_progress" ? at : maintenance.started_at,
    completed_at: status === "completed" ? at : maintenance.completed_at,
    updates: [...maintenance.updates, { id: newId(), status, body, created_at: at, author }],
    revision: maintenance.revision + 1,
  };
  try {
    // The key makes a second scheduler doing the same step at the same time write nothing.
    const written = await ctx.store.writeMaintenance(next, { expectedRevision: maintenance.revision, key: `maintenance:${maintenance.id}:${status}` });
    return written ? next : undefined;
  } catch (err) {
    if (err instanceof IncidentConflict) return undefined;
    throw err;
  }
}

