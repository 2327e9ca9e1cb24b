import { stableId } from "../../core/index.ts";
import type { MaintenanceOutboxEntry } from "../maintenance-notices.ts";
import { reminderLeadMs, type Maintenance } from "../model.ts";
import type { StatusContext } from "./context.ts";

/**
 * Writes the reminder of every scheduled window whose reminder is due: from
 * `remind_before_minutes` ahead of its start until it starts (a window
 * scheduled closer to its start than that is reminded at once). Each window
 * is reminded once per start time, however many schedulers run this and
 * however often: a window moved to another time is reminded again for it; a
 * window that started, was cancelled or changed meanwhile is not (see
 * StatusStore.writeMaintenanceReminder). Returns the windows reminded now.
 */
export async function remindMaintenances(ctx: StatusContext, now = Date.now()): Promise<Maintenance[]> {
  const reminded: Maintenance[] = [];
  for (const maintenance of await ctx.store.openMaintenances()) {
    if (!reminderDue(maintenance, now)) continue;
    const entry: MaintenanceOutboxEntry = {
      type: "maintenance.reminder",
      id: stableId(`maintenance-reminder:${maintenance.id}:${maintenance.scheduled_for}`),
      maintenance: maintenance.id,
      seq: maintenance.revision,
      scheduled_for: maintenance.scheduled_for,
      scheduled_until: maintenance.scheduled_until,
      at: new Date(now).toISOString(),
    };
    if ((await ctx.store.writeMaintenanceReminder(entry, maintenance.revision, now)) === "written") reminded.push(maintenance);
  }
  return reminded;
}

/** A scheduled window with a reminder, between the reminder's moment and its start. */
function reminderDue(maintenance: Maintenance, now: number): boolean {
  const lead = reminderLeadMs(maintenance);
  const start = Date.parse(maintenance.scheduled_for);
  return maintenance.status === "scheduled" && lead > 0 && now >= start - lead && now < start;
}
