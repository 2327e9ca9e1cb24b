import type { Maintenance, MaintenanceStatus } from "./model.ts";
import { listOf } from "./wording.ts";

/**
 * What subscribers and on-call channels are told about a maintenance
 * window: a reminder before it starts, that it started, that it completed,
 * and that it was cancelled (only when a reminder had gone out: nobody else
 * was told it was coming).
 */
export const MAINTENANCE_NOTICE_TYPES = ["maintenance.reminder", "maintenance.started", "maintenance.completed", "maintenance.cancelled"] as const;
export type MaintenanceNoticeType = (typeof MAINTENANCE_NOTICE_TYPES)[number];

/** A notice about a window, waiting on the maintenance outbox to be announced to subscribers and on-call channels. */
export interface MaintenanceOutboxEntry {
  type: MaintenanceNoticeType;
  /** The notice's own id (receivers de-duplicate by it): its timeline entry's, or the reminder's. */
  id: string;
  maintenance: string;
  /** The window's revision when the notice was written: a window's notices go out in this order. */
  seq: number;
  /** The window's times as announced, so a late post still describes its own moment. */
  scheduled_for: string;
  scheduled_until: string;
  /** The timeline entry the notice goes with (none for a reminder). */
  update?: string;
  /** When the notice was written (ISO 8601). */
  at: string;
}

/** The state a window is in, as each notice tells it (Statuspage's maintenance statuses). */
const NOTICE_STATUS: Record<MaintenanceNoticeType, MaintenanceStatus> = {
  "maintenance.reminder": "scheduled",
  "maintenance.started": "in_progress",
  "maintenance.completed": "completed",
  "maintenance.cancelled": "completed",
};

/**
 * The window as it stood when a notice was written: its times as
 * announced, its timeline up to the notice's entry (for a reminder, up to
 * the reminder), the status the notice tells.
 */
export function maintenanceAsOf(maintenance: Maintenance, entry: MaintenanceOutboxEntry): Maintenance {
  const cut = entry.update ? maintenance.updates.findIndex((u) => u.id === entry.update) : -1;
  const updates = cut >= 0 ? maintenance.updates.slice(0, cut + 1) : maintenance.updates.filter((u) => u.created_at <= entry.at);
  const status = NOTICE_STATUS[entry.type];
  return {
    ...maintenance,
    status,
    scheduled_for: entry.scheduled_for,
    scheduled_until: entry.scheduled_until,
    updates: updates.length > 0 ? updates : maintenance.updates.slice(0, 1),
    updated_at: updates.at(-1)?.created_at ?? maintenance.created_at,
    started_at: status === "scheduled" ? null : maintenance.started_at,
    completed_at: status === "completed" ? maintenance.completed_at : null,
  };
}

/**
 * A notice in plain words, the same for customers and on-call: "Scheduled
 * maintenance of Chat starts in 60 minutes (14:00 UTC) and lasts until
 * 15:00 UTC." `components` are names; times are UTC, with the date when it
 * is not the day of the notice.
 */
export function maintenanceNoticeText(entry: Pick<MaintenanceOutboxEntry, "type" | "scheduled_for" | "scheduled_until" | "at">, components: string[]): string {
  const what = `Scheduled maintenance of ${listOf(components)}`;
  switch (entry.type) {
    case "maintenance.reminder": {
      const lead = leadText(Date.parse(entry.scheduled_for) - Date.parse(entry.at));
      return `${what} starts in ${lead} (${timeText(entry.scheduled_for, entry.at)}) and lasts until ${timeText(entry.scheduled_until, entry.scheduled_for)}.`;
    }
    case "maintenance.started":
      return `${what} has started and lasts until ${timeText(entry.scheduled_until, entry.at)}.`;
    case "maintenance.completed":
      return `${what} is complete.`;
    case "maintenance.cancelled":
      return `${what}, planned for ${timeText(entry.scheduled_for, entry.at)}, has been cancelled.`;
  }
}

/** "14:00 UTC" on the day of `relativeTo`, else "2026-12-04 14:00 UTC". */
function timeText(iso: string, relativeTo: string): string {
  const stamp = new Date(Date.parse(iso)).toISOString();
  const sameDay = stamp.slice(0, 10) === new Date(Date.parse(relativeTo)).toISOString().slice(0, 10);
  return `${sameDay ? "" : `${stamp.slice(0, 10)} `}${stamp.slice(11, 16)} UTC`;
}

/** How long until a start, as a person says it: "less than a minute", "60 minutes", "2 hours", "1 day". */
function leadText(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 1) return "less than a minute";
  if (minutes === 1) return "1 minute";
  if (minutes % 1_440 === 0) return minutes === 1_440 ? "1 day" : `${minutes / 1_440} days`;
  if (minutes >= 120 && minutes % 60 === 0) return `${minutes / 60} hours`;
  return `${minutes} minutes`;
}
