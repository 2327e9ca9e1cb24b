import type { Config } from "../config/index.ts";
import { readSummary, type LatencyPoint, type Maintenance, type StatusContext, type StatusSummary, type UptimeDay } from "../status/index.ts";

/** Days in the uptime bar. */
export const UPTIME_DAYS = 90;
/** Incidents kept in the snapshot for the history page, feeds and incidents.json. */
export const HISTORY_KEPT = 250;
/** Maintenances kept in the snapshot (scheduled, in progress and past). */
export const MAINTENANCES_KEPT = 50;

/** A response-time chart of one probe the page shows. */
export interface ChartData {
  probe: string;
  name: string;
  /** Last 24 hours from the first result on: 1-, 5- or 15-minute points. */
  day: LatencyPoint[];
  /** Last 7 days from the first result on, hourly points. */
  week: LatencyPoint[];
}

/** The slower-moving parts of the page: re-read every few tens of seconds, not on every change. */
export interface PageHistory {
  /** Per component id, the last 90 UTC days, oldest first. */
  uptime: Record<string, UptimeDay[]>;
  charts: ChartData[];
  read_at: string;
}

/** Everything the public page, its JSON, feeds and badges are rendered from. */
export interface PageData {
  /** Components, unresolved and recent incidents (`HISTORY_KEPT`), open maintenances. */
  summary: StatusSummary;
  /** Recent maintenances, open or past, most recently scheduled first. */
  maintenances: Maintenance[];
  history: PageHistory;
}

/** Reads the fast-moving part: what changes when an incident or component does. */
export async function readPageSummary(ctx: StatusContext): Promise<{ summary: StatusSummary; maintenances: Maintenance[] }> {
  const [summary, maintenances] = await Promise.all([readSummary(ctx, HISTORY_KEPT), ctx.store.recentMaintenances(MAINTENANCES_KEPT)]);
  return { summary, maintenances };
}

/** Reads uptime bars and response-time charts: a few pipelined round trips. */
export async function readPageHistory(ctx: StatusContext, config: Config, now = Date.now()): Promise<PageHistory> {
  const charted = config.probes.filter((p) => p.chart);
  const [uptime, charts] = await Promise.all([
    ctx.store.uptime(ctx.components.map((c) => c.id), UPTIME_DAYS, now),
    Promise.all(
      charted.map(async (probe) => {
        const fit = { fit: true };
        const [day, week] = await Promise.all([ctx.store.latency(probe.id, probe.locations, "24h", now, fit), ctx.store.latency(probe.id, probe.locations, "7d", now, fit)]);
        return { probe: probe.id, name: probe.name ?? probe.id, day, week };
      }),
    ),
  ]);
  return { uptime: Object.fromEntries(uptime), charts, read_at: new Date(now).toISOString() };
}
