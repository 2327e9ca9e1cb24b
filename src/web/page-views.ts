import { overallUptime, worstStatus, type ComponentStatus, type Incident, type Maintenance, type UptimeDay } from "../status/index.ts";
import type { PageData } from "./page-data.ts";

/**
 * View models of the status page: plain data the Handlebars views print.
 * Nothing here formats HTML; every text a person typed is escaped by `{{…}}`.
 */

export interface UptimeCell {
  /** CSS status class: a component status, or `nodata`. */
  status: ComponentStatus | "nodata";
  /** What the cell says on hover and focus (and to screen readers): day, status, uptime, incidents. */
  tip: string;
  /** Cells near either end open their tooltip inwards. */
  edge?: "start" | "end";
}

export interface ComponentRow {
  id: string;
  name: string;
  description?: string;
  status: ComponentStatus;
  /** Uptime over the days of the bar that have data, like "99.95%"; undefined before any data. */
  uptime?: string;
  /** First day with data (`YYYY-MM-DD`) when that is after the bar's first day: the uptime covers only the time since. */
  uptimeSince?: string;
  cells: UptimeCell[];
}

export interface GroupView {
  name?: string;
  status: ComponentStatus;
  components: ComponentRow[];
}

/** Components by group, in page order, each with its 90-day bar. */
export function componentGroups(data: PageData, label: (day: UptimeDay) => string, now = Date.now()): GroupView[] {
  const groups: GroupView[] = [];
  for (const view of data.summary.components) {
    if (view.config.only_show_if_degraded && view.status === "operational") continue;
    const name = view.config.group;
    let group = groups.find((g) => g.name === name);
    if (!group) groups.push((group = { name, status: "operational", components: [] }));
    const days = data.history.uptime[view.config.id] ?? [];
    group.components.push({
      id: view.config.id,
      name: view.config.name,
      description: view.config.description,
      status: view.status,
      uptime: uptimeText(days),
      uptimeSince: firstDayWithData(days),
      cells: uptimeCells(view.config.id, days, data.summary.recent, now, label),
    });
  }
  for (const group of groups) group.status = worstStatus(group.components.map((c) => c.status));
  return groups;
}

function uptimeCells(component: string, days: UptimeDay[], incidents: Incident[], now: number, label: (day: UptimeDay) => string): UptimeCell[] {
  const affecting = incidents.filter((i) => component in i.components);
  return days.map((day, i) => {
    const names = affecting.filter((incident) => overlapsDay(incident, day.date, now)).map((incident) => incident.name);
    const uptime = day.worst === null ? "No data" : day.uptime === null ? "not counted (maintenance)" : `${percent(day.uptime)} uptime`;
    return {
      status: day.worst ?? "nodata",
      tip: `${label(day)}: ${uptime}${names.length ? `. Incidents: ${names.join("; ")}` : ""}`,
      edge: i < 10 ? "start" : i >= days.length - 10 ? "end" : undefined,
    };
  });
}

function overlapsDay(incident: Incident, date: string, now: number): boolean {
  const dayStart = Date.parse(`${date}T00:00:00Z`);
  const start = Date.parse(incident.started_at);
  const end = incident.resolved_at ? Date.parse(incident.resolved_at) : now;
  return start < dayStart + 86_400_000 && end >= dayStart;
}

/** The uptime a component's bar prints: over the time with data only, undefined with none. */
export function uptimeText(days: UptimeDay[]): string | undefined {
  const share = overallUptime(days);
  return share === null ? undefined : percent(share);
}

function firstDayWithData(days: UptimeDay[]): string | undefined {
  const index = days.findIndex((day) => day.worst !== null);
  return index > 0 ? days[index]!.date : undefined;
}

function percent(share: number): string {
  if (share >= 1) return "100%";
  // Never round a bad day up to 100 %.
  return `${(Math.floor(share * 10_000 + 1e-6) / 100).toFixed(2)}%`;
}

/** Maintenance split the way the page shows it. */
export function maintenanceViews(maintenances: Maintenance[]): { active: Maintenance[]; upcoming: Maintenance[] } {
  return {
    active: maintenances.filter((m) => m.status === "in_progress" || m.status === "verifying"),
    upcoming: maintenances.filter((m) => m.status === "scheduled"),
  };
}

/** An incident with its updates newest first, as pages show timelines. */
export function incidentView(incident: Incident) {
  return { ...incident, updates: [...incident.updates].reverse(), components: Object.keys(incident.components) };
}

export interface MonthView {
  /** "November 2026" */
  label: string;
  incidents: ReturnType<typeof incidentView>[];
}

/** Past incidents grouped by month (in the page's time zone), most recent first, `perPage` months a page. */
export function historyPages(incidents: Incident[], timeZone: string, months = 3): MonthView[][] {
  const format = new Intl.DateTimeFormat("en-GB", { month: "long", year: "numeric", timeZone });
  const byMonth: MonthView[] = [];
  for (const incident of incidents) {
    const label = format.format(new Date(incident.started_at));
    let month = byMonth.find((m) => m.label === label);
    if (!month) byMonth.push((month = { label, incidents: [] }));
    month.incidents.push(incidentView(incident));
  }
  const pages: MonthView[][] = [];
  for (let i = 0; i < byMonth.length; i += months) pages.push(byMonth.slice(i, i + months));
  return pages.length ? pages : [[]];
}
