import { z } from "zod";
import { ValidationError, newId, stableId } from "../../core/index.ts";
import { IncidentConflict } from "../store.ts";
import type { MaintenanceNoticeType, MaintenanceOutboxEntry } from "../maintenance-notices.ts";
import { DEFAULT_REMIND_BEFORE_MINUTES, MAX_REMIND_BEFORE_MINUTES, type Author, type Maintenance, type MaintenanceStatus } from "../model.ts";
import { authorSchema, checkComponentIds, nowIso, parseInput, type StatusContext } from "./context.ts";
import { refreshEffective } from "./refresh-effective.ts";

const minutesHint = `expected a number of minutes from 0 (no reminder) to ${MAX_REMIND_BEFORE_MINUTES} (7 days)`;

/** How long before its start a window's reminder goes out, in minutes; 0 for none. */
export const remindBeforeMinutes = z
  .number({ error: minutesHint })
  .min(0, { error: `must not be negative; ${minutesHint}` })
  .max(MAX_REMIND_BEFORE_MINUTES, { error: `must be at most ${MAX_REMIND_BEFORE_MINUTES} (7 days); ${minutesHint}` });

/** Whether the window's start and completion are announced. */
export const notifySchema = z.boolean({ error: "expected true (announce the start and the completion) or false" });

export const scheduleMaintenanceInput = z.strictObject({
  name: z.string().trim().min(1).max(200),
  components: z.array(z.string()).min(1, { error: "name at least one component" }),
  scheduled_for: z.string().datetime({ offset: true, error: "expected an ISO 8601 time like 2026-12-01T02:00:00Z" }),
  scheduled_until: z.string().datetime({ offset: true, error: "expected an ISO 8601 time like 2026-12-01T03:00:00Z" }),
  body: z.string().trim().min(1).max(20_000),
  source: z.enum(["config", "admin"]).default("admin"),
  author: authorSchema,
  /** Minutes before the start that subscribers and on-call channels are reminded; 0 for no reminder. @defaultValue 60 */
  remind_before_minutes: remindBeforeMinutes.default(DEFAULT_REMIND_BEFORE_MINUTES),
  /** Announce the start and the completion to subscribers and on-call channels. @defaultValue true */
  notify: notifySchema.default(true),
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
    remind_before_minutes: input.remind_before_minutes,
    notify: input.notify,
  };
  const written = await ctx.store.writeMaintenance(maintenance, { key: input.key });
  if (!written) return { maintenance: (await ctx.store.maintenance(id)) ?? maintenance, created: false };
  return { maintenance, created: true };
}

const SYSTEM: Author = { kind: "automatic", name: "Pulseboard" };

/**
 * Starts windows whose time has come and completes those that are over, with
 * a timeline entry each, announced (unless the window says `notify: false`)
 * on the maintenance outbox in the same write; returns the ones that changed.
 * Run every few seconds by the scheduler; safe to run anywhere any number of
 * times: one write wins each step, and only it announces.
 */
export async function advanceMaintenances(ctx: StatusContext, now = Date.now()): Promise<Maintenance[]> {
  const changed: Maintenance[] = [];
  for (const open of await ctx.store.openMaintenances()) {
    // A window whose whole time passed between two looks (a short one, or one scheduled moments before it began)
    // still starts before it completes: its timeline and its notices say both, in order.
    let maintenance: Maintenance | undefined = open;
    for (let next = nextStatus(open, now); maintenance && next; next = maintenance && nextStatus(maintenance, now)) {
      const body =
        next === "in_progress"
          ? "Scheduled maintenance is currently in progress. We will provide updates as necessary."
          : "The scheduled maintenance has been completed.";
      const notice = maintenance.notify === false ? undefined : next === "in_progress" ? "maintenance.started" : "maintenance.completed";
      maintenance = await transition(ctx, maintenance, next, body, SYSTEM, now, notice && { type: notice });
      if (maintenance) changed.push(maintenance);
    }
  }
  if (changed.length > 0) await refreshEffective(ctx, new Set(changed.flatMap((m) => m.components)));
  return changed;
}

export const cancelMaintenanceInput = z.strictObject({
  id: z.string().min(1).max(64),
  body: z.string().trim().min(1).max(20_000).default("This scheduled maintenance has been cancelled."),
  author: authorSchema,
});

/**
 * Ends a window early (or before it starts): it completes at once. One in
 * progress is announced as completed (unless it says `notify: false`); one
 * that had not started is announced as cancelled only when its reminder went
 * out, since nobody else was told it was coming.
 */
export async function cancelMaintenance(ctx: StatusContext, rawInput: z.input<typeof cancelMaintenanceInput>): Promise<Maintenance> {
  const input = parseInput(cancelMaintenanceInput, rawInput);
  const maintenance = await ctx.store.maintenance(input.id);
  if (!maintenance) throw new ValidationError([`id: no maintenance ${input.id}`]);
  if (maintenance.status === "completed") return maintenance;
  const announce =
    maintenance.status === "scheduled"
      ? { type: "maintenance.cancelled" as const, onlyIf: ctx.store.keys.maintenanceReminder(maintenance.id, maintenance.scheduled_for) }
      : maintenance.notify === false
        ? undefined
        : { type: "maintenance.completed" as const };
  const done = await transition(ctx, maintenance, "completed", input.body, input.author, Date.now(), announce);
  await refreshEffective(ctx, maintenance.components);
  return done ?? maintenance;
}

function nextStatus(maintenance: Maintenance, now: number): MaintenanceStatus | undefined {
  if (maintenance.status === "scheduled") return now >= Date.parse(maintenance.scheduled_for) ? "in_progress" : undefined;
  if (maintenance.status === "completed") return undefined;
  return now >= Date.parse(maintenance.scheduled_until) ? "completed" : undefined;
}

async function transition(
  ctx: StatusContext,
  maintenance: Maintenance,
  status: MaintenanceStatus,
  body: string,
  author: Author,
  now: number,
  announce?: { type: MaintenanceNoticeType; onlyIf?: string },
): Promise<Maintenance | undefined> {
  const at = new Date(now).toISOString();
  const update = { id: newId(), status, body, created_at: at, author };
  const next: Maintenance = {
    ...maintenance,
    status,
    updated_at: at,
    started_at: status === "in_progress" ? at : maintenance.started_at,
    completed_at: status === "completed" ? at : maintenance.completed_at,
    updates: [...maintenance.updates, update],
    revision: maintenance.revision + 1,
  };
  const notice: MaintenanceOutboxEntry | undefined = announce && {
    type: announce.type,
    id: update.id,
    maintenance: next.id,
    seq: next.revision,
    scheduled_for: next.scheduled_for,
    scheduled_until: next.scheduled_until,
    update: update.id,
    at,
  };
  try {
    // The key makes a second scheduler doing the same step at the same time write nothing (and announce nothing).
    const written = await ctx.store.writeMaintenance(next, {
      expectedRevision: maintenance.revision,
      key: `maintenance:${maintenance.id}:${status}`,
      announce: notice,
      announceIf: announce?.onlyIf,
    });
    return written ? next : undefined;
  } catch (err) {
    if (err instanceof IncidentConflict) return undefined;
    throw err;
  }
}

