import type { ComponentStatus } from "./model.ts";
import { worstStatus } from "./model.ts";
import { BLOCK_DAYS, DAY_MS, blockOf, dayString, epochDay } from "./time.ts";

/** How long uptime blocks are kept after the last day they cover: enough for a 90-day bar. */
export const UPTIME_RETENTION_MS = 100 * DAY_MS;

/**
 * Share of a period counted as downtime, by status: a major outage is down
 * the whole time; a partial outage, for 30 % of it (as Statuspage counts it).
 * Degraded performance is slow but up; maintenance is left out of the day.
 */
const DOWNTIME_WEIGHT: Partial<Record<ComponentStatus, number>> = { major_outage: 1, partial_outage: 0.3 };

export interface UptimeDay {
  /** UTC day, `YYYY-MM-DD`. */
  date: string;
  /** Milliseconds in each status that day (only statuses that occurred). */
  ms: Partial<Record<ComponentStatus, number>>;
  /** The worst status the component had that day; null before it was first seen. */
  worst: ComponentStatus | null;
  /** 0..1 share of the day up (maintenance left out); null with no data. */
  uptime: number | null;
}

/** The days of a window ending today: their numbers and the uptime blocks that hold them. */
export function uptimeWindow(now: number, days: number): { days: number[]; blocks: number[] } {
  const today = epochDay(now);
  const list = Array.from({ length: days }, (_, i) => today - days + 1 + i);
  return { days: list, blocks: [...new Set(list.map(blockOf))] };
}

/**
 * Builds the per-day record of one component from its uptime hashes plus the
 * status it is in now (still open, so not in the hashes yet).
 */
export function foldUptime(
  window: { days: number[] },
  hashes: Record<string, string>[],
  current: { status: ComponentStatus; since: number } | undefined,
  now: number,
): UptimeDay[] {
  const perDay = new Map<number, Partial<Record<ComponentStatus, number>>>();
  const add = (day: number, status: ComponentStatus, ms: number): void => {
    const entry = perDay.get(day) ?? {};
    entry[status] = (entry[status] ?? 0) + ms;
    perDay.set(day, entry);
  };
  for (const hash of hashes) {
    for (const [field, value] of Object.entries(hash)) {
      const [day, status] = field.split(":") as [string, ComponentStatus];
      add(Number(day), status, Number(value));
    }
  }
  if (current) {
    for (let t = Math.max(current.since, window.days[0]! * DAY_MS); t < now; ) {
      const day = epochDay(t);
      const stop = Math.min((day + 1) * DAY_MS, now);
      add(day, current.status, stop - t);
      t = stop;
    }
  }
  return window.days.map((day) => {
    const ms = perDay.get(day) ?? {};
    const statuses = Object.keys(ms) as ComponentStatus[];
    return { date: dayString(day), ms, worst: statuses.length ? worstStatus(statuses) : null, uptime: uptimeOf(ms) };
  });
}

/**
 * Uptime (0..1) over the days given, weighted by the time each has data
 * (maintenance left out): days without data count for nothing, so a few
 * minutes of history are rated on those minutes. Null with no data at all.
 * Never 1 when any downtime was recorded, however short.
 */
export function overallUptime(days: Pick<UptimeDay, "ms">[]): number | null {
  const merged: Partial<Record<ComponentStatus, number>> = {};
  for (const day of days) {
    for (const [status, value] of Object.entries(day.ms) as [ComponentStatus, number][]) merged[status] = (merged[status] ?? 0) + value;
  }
  return uptimeOf(merged);
}

function uptimeOf(ms: Partial<Record<ComponentStatus, number>>): number | null {
  let counted = 0;
  let down = 0;
  for (const [status, value] of Object.entries(ms) as [ComponentStatus, number][]) {
    if (status === "under_maintenance") continue;
    counted += value;
    down += value * (DOWNTIME_WEIGHT[status] ?? 0);
  }
  if (counted <= 0) return null;
  // Rounded down, so a second of outage in a day never reads as a perfect day.
  return down > 0 ? Math.min(0.99999, Math.floor((1 - down / counted) * 100_000) / 100_000) : 1;
}
