import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import Handlebars from "handlebars";
import type { Config } from "../config/index.ts";
import { PACKAGE_ROOT } from "../core/index.ts";
import type { ComponentStatus, Incident, IncidentStatus, Maintenance, MaintenanceStatus } from "../status/index.ts";
import { axisStartLabel, formatMs, latencyChartHtml, summarize } from "./charts.ts";
import { COMPONENT_STATUS_LABELS, INCIDENT_STATUS_LABELS, MAINTENANCE_STATUS_LABELS } from "./labels.ts";
import { componentGroups, historyPages, incidentView, maintenanceViews } from "./page-views.ts";
import type { Snapshot } from "./snapshot.ts";

/** The Handlebars views at the top of the repository. */
export const VIEWS_DIR = path.join(PACKAGE_ROOT, "views");

const STATUS_LABELS: Record<ComponentStatus | "nodata", string> = { ...COMPONENT_STATUS_LABELS, nodata: "No data" };

const INDICATOR_ICONS: Record<string, string> = { none: "✓", minor: "!", major: "!", critical: "✕", maintenance: "⚙" };

/** The parts of the home page that live updates replace in place. */
export interface LiveFragments {
  version: number;
  title: string;
  fragments: Record<"banner" | "incidents" | "maintenance" | "components" | "updated" | "stale", string>;
}

/**
 * Renders the status page's HTML from Handlebars views. Every value a person
 * typed goes through `{{…}}`, which escapes it.
 */
export class PageRenderer {
  private readonly hbs = Handlebars.create();
  private readonly templates = new Map<string, Handlebars.TemplateDelegate>();
  /** Partials compiled on their own too, for live fragments. */
  private readonly partials = new Map<string, Handlebars.TemplateDelegate>();
  private readonly layout: Handlebars.TemplateDelegate;
  private readonly timeFormat: Intl.DateTimeFormat;
  private readonly dateFormat: Intl.DateTimeFormat;
  private readonly shortFormat: Intl.DateTimeFormat;

  constructor(
    private readonly config: Config,
    viewsDir: string = VIEWS_DIR,
  ) {
    const timeZone = config.page.time_zone;
    this.timeFormat = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone, timeZoneName: "short" });
    this.dateFormat = new Intl.DateTimeFormat("en-GB", { year: "numeric", month: "short", day: "numeric", timeZone: "UTC" });
    this.shortFormat = new Intl.DateTimeFormat("en-GB", { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", timeZone });
    this.registerHelpers();
    const partialsDir = path.join(viewsDir, "partials");
    for (const file of readdirSync(partialsDir).filter((f) => f.endsWith(".hbs"))) {
      const source = readFileSync(path.join(partialsDir, file), "utf8");
      this.hbs.registerPartial(file.replace(/\.hbs$/, ""), source);
      this.partials.set(file.replace(/\.hbs$/, ""), this.hbs.compile(source));
    }
    for (const file of readdirSync(viewsDir).filter((f) => f.endsWith(".hbs"))) {
      this.templates.set(file.replace(/\.hbs$/, ""), this.hbs.compile(readFileSync(path.join(viewsDir, file), "utf8"), { strict: false }));
    }
    this.layout = this.hbs.compile(readFileSync(path.join(viewsDir, "layouts", "main.hbs"), "utf8"));
  }

  /** The home page: banner, incidents, maintenance, components with uptime bars, charts. */
  home(snapshot: Snapshot): string {
    return this.render("index", { ...this.homeParts(snapshot), live: true, title: this.title() }, snapshot);
  }

  /** What live updates replace on the home page, rendered from the same partials. */
  fragments(snapshot: Snapshot): LiveFragments {
    const parts = { ...this.homeParts(snapshot), ...this.common(snapshot) };
    const run = (name: string) => {
      const template = this.partials.get(name);
      if (!template) throw new Error(`partial ${name}.hbs is missing from views/partials/`);
      return compact(template(parts));
    };
    return {
      version: snapshot.version,
      title: this.title(),
      fragments: { banner: run("banner"), incidents: run("active-incidents"), maintenance: run("maintenance"), components: run("components"), updated: run("updated"), stale: run("stale") },
    };
  }

  /** One incident: its timeline, affected components and postmortem. */
  incident(snapshot: Snapshot, incident: Incident): string {
    const names = new Map(snapshot.summary.components.map((c) => [c.config.id, c.config.name]));
    const view = incidentView(incident);
    return this.render("incident", {
      title: `${incident.name} · ${this.config.page.name} status`,
      incident: { ...view, components: view.components.map((id) => ({ id, name: names.get(id) ?? id, status: incident.components[id] })) },
    }, snapshot);
  }

  /** One maintenance window and its updates. */
  maintenance(snapshot: Snapshot, maintenance: Maintenance): string {
    const names = new Map(snapshot.summary.components.map((c) => [c.config.id, c.config.name]));
    return this.render("maintenance", {
      title: `${maintenance.name} · ${this.config.page.name} status`,
      maintenance,
      components: maintenance.components.map((id) => names.get(id) ?? id),
      updates: [...maintenance.updates].reverse(),
    }, snapshot);
  }

  /** Past incidents by month; `page` counts from 1. Undefined past the last page. */
  history(snapshot: Snapshot, page: number): string | undefined {
    const pages = historyPages(snapshot.summary.recent, this.config.page.time_zone);
    const months = pages[page - 1];
    if (!months) return undefined;
    return this.render("history", {
      title: `Incident history · ${this.config.page.name} status`,
      months,
      newer: page > 1 ? page - 1 : undefined,
      older: page < pages.length ? page + 1 : undefined,
    }, snapshot);
  }

  /** A page of its own view in the site's layout (subscriptions use it); `data.title` names the page. */
  view(view: string, data: Record<string, unknown> & { title: string }): string {
    return this.render(view, { ...data, title: `${data.title} · ${this.config.page.name} status` });
  }

  notFound(snapshot: Snapshot): string {
    return this.render("not-found", { title: `Not found · ${this.config.page.name} status` }, snapshot);
  }

  /** A request the page cannot answer as asked; `message` says what was wrong with it, in plain words. */
  badRequest(snapshot: Snapshot, message: string): string {
    return this.render("bad-request", { title: `Bad request · ${this.config.page.name} status`, message }, snapshot);
  }

  /** Shown before the first snapshot could be read. */
  unavailable(): string {
    return this.render("unavailable", { title: this.title(), refresh: 5 });
  }

  /** The brand colour, as a stylesheet (the CSP allows no inline style). */
  themeCss(): string {
    return `:root { --brand: ${this.config.page.brand_color}; }\n`;
  }

  private title(): string {
    return `${this.config.page.name} status`;
  }

  private homeParts(snapshot: Snapshot) {
    const { summary, history } = snapshot.data;
    const maintenance = maintenanceViews(summary.maintenances);
    const recentDays = summary.recent.filter((i) => !isOpen(i) && Date.now() - Date.parse(i.started_at) < 7 * 86_400_000);
    return {
      indicator: summary.indicator,
      description: summary.description,
      incidents: summary.unresolved.map(incidentView),
      activeMaintenance: maintenance.active,
      upcomingMaintenance: maintenance.upcoming,
      groups: componentGroups(snapshot.data, (day) => `${this.dateFormat.format(new Date(`${day.date}T00:00:00Z`))}${day.worst ? `, ${STATUS_LABELS[day.worst].toLowerCase()}` : ""}`),
      charts: history.charts.map((chart) => ({ ...chart, daySummary: summarize(chart.day), weekSummary: summarize(chart.week) })),
      recent: recentDays.map(incidentView),
    };
  }

  private common(snapshot?: Snapshot) {
    return {
      page: this.config.page,
      updatedAt: snapshot?.summary.updated_at,
      version: snapshot?.version,
      stale: snapshot?.staleSince ? { since: snapshot.staleSince } : undefined,
    };
  }

  private render(view: string, data: Record<string, unknown>, snapshot?: Snapshot): string {
    const template = this.templates.get(view);
    if (!template) throw new Error(`view ${view}.hbs is missing from views/`);
    const context = { ...data, ...this.common(snapshot) };
    return compact(this.layout({ ...context, body: template(context) }));
  }

  private registerHelpers(): void {
    const h = this.hbs;
    h.registerHelper("statusLabel", (status: ComponentStatus) => STATUS_LABELS[status] ?? status);
    h.registerHelper("incidentStatusLabel", (status: IncidentStatus) => INCIDENT_STATUS_LABELS[status] ?? status);
    h.registerHelper("maintenanceStatusLabel", (status: MaintenanceStatus) => MAINTENANCE_STATUS_LABELS[status] ?? status);
    h.registerHelper("indicatorIcon", (indicator: string) => INDICATOR_ICONS[indicator] ?? "?");
    h.registerHelper("time", (iso: unknown) => (typeof iso === "string" && iso ? this.timeFormat.format(new Date(iso)) : "never"));
    h.registerHelper("shortTime", (iso: unknown) => (typeof iso === "string" && iso ? this.shortFormat.format(new Date(iso)) : ""));
    h.registerHelper("day", (date: string) => this.dateFormat.format(new Date(`${date}T00:00:00Z`)));
    h.registerHelper("ms", (ms: number | null) => (ms === null || ms === undefined ? "–" : formatMs(ms)));
    h.registerHelper("share", (share: number) => `${(share * 100).toFixed(share > 0 && share < 0.01 ? 2 : 1)}%`);
    h.registerHelper("eq", (a: unknown, b: unknown) => a === b);
    h.registerHelper("last", (list: unknown) => (Array.isArray(list) ? list.at(-1) : undefined));
    h.registerHelper("chart", (points: Parameters<typeof latencyChartHtml>[0], name: string, range: "day" | "week") => {
      const label = h.escapeExpression(`Response time of ${name} over the last ${range === "day" ? "24 hours" : "7 days"}`);
      const rangeMs = range === "day" ? 86_400_000 : 7 * 86_400_000;
      const start = axisStartLabel(points, rangeMs, Date.now(), range === "day" ? "24 h ago" : "7 d ago", (iso) => this.shortFormat.format(new Date(iso)));
      return new h.SafeString(latencyChartHtml(points, label, { start: h.escapeExpression(start), end: "now" }));
    });
  }
}

/** Drops the indentation between tags that views carry for readability (whitespace inside a line stays). */
function compact(html: string): string {
  return html.replace(/>\s*\n\s*</g, "><");
}

function isOpen(incident: Incident): boolean {
  return incident.status !== "resolved" && incident.status !== "postmortem";
}
