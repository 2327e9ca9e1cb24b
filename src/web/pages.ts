import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import Handlebars from "handlebars";
import type { Config } from "../config/index.ts";
import { PACKAGE_ROOT } from "../core/index.ts";
import { worstStatus, type ComponentStatus, type Incident, type IncidentStatus, type StatusSummary } from "../status/index.ts";
import type { Snapshot } from "./snapshot.ts";

/** The Handlebars views at the top of the repository. */
export const VIEWS_DIR = path.join(PACKAGE_ROOT, "views");

const STATUS_LABELS: Record<ComponentStatus, string> = {
  operational: "Operational",
  degraded_performance: "Degraded performance",
  partial_outage: "Partial outage",
  major_outage: "Major outage",
  under_maintenance: "Under maintenance",
};

const INCIDENT_STATUS_LABELS: Record<IncidentStatus, string> = {
  investigating: "Investigating",
  identified: "Identified",
  monitoring: "Monitoring",
  resolved: "Resolved",
  postmortem: "Postmortem",
};

const INDICATOR_ICONS: Record<string, string> = { none: "✓", minor: "!", major: "!", critical: "✕", maintenance: "⚙" };

/**
 * Renders the status page's HTML from Handlebars views. Every value a person
 * typed goes through `{{…}}`, which escapes it.
 */
export class PageRenderer {
  private readonly hbs = Handlebars.create();
  private readonly templates = new Map<string, Handlebars.TemplateDelegate>();
  private readonly layout: Handlebars.TemplateDelegate;
  private readonly timeFormat: Intl.DateTimeFormat;

  constructor(
    private readonly config: Config,
    viewsDir: string = VIEWS_DIR,
  ) {
    this.timeFormat = new Intl.DateTimeFormat("en-GB", {
      year: "numeric",
      month: "short",
      day: "numeric",
      hour: "2-digit",
      minute: "2-digit",
      timeZone: config.page.time_zone,
      timeZoneName: "short",
    });
    this.registerHelpers();
    const partialsDir = path.join(viewsDir, "partials");
    for (const file of readdirSync(partialsDir).filter((f) => f.endsWith(".hbs"))) {
      this.hbs.registerPartial(file.replace(/\.hbs$/, ""), readFileSync(path.join(partialsDir, file), "utf8"));
    }
    for (const file of readdirSync(viewsDir).filter((f) => f.endsWith(".hbs"))) {
      this.templates.set(file.replace(/\.hbs$/, ""), this.hbs.compile(readFileSync(path.join(viewsDir, file), "utf8"), { strict: false }));
    }
    this.layout = this.hbs.compile(readFileSync(path.join(viewsDir, "layouts", "main.hbs"), "utf8"));
  }

  /** The home page: banner, active incidents, components by group. */
  home(snapshot: Snapshot): string {
    const { summary } = snapshot;
    return this.render("index", {
      title: `${this.config.page.name} status`,
      indicator: summary.indicator,
      description: summary.description,
      incidents: summary.unresolved.map(incidentView),
      groups: groupsOf(summary),
    }, snapshot);
  }

  /** Shown before the first snapshot could be read. */
  unavailable(): string {
    return this.render("unavailable", { title: `${this.config.page.name} status` });
  }

  private render(view: string, data: Record<string, unknown>, snapshot?: Snapshot): string {
    const template = this.templates.get(view);
    if (!template) throw new Error(`view ${view}.hbs is missing from views/`);
    const context = {
      ...data,
      page: this.config.page,
      updatedAt: snapshot?.summary.updated_at,
      stale: snapshot?.staleSince ? { since: snapshot.staleSince } : undefined,
    };
    return this.layout({ ...context, body: template(context) });
  }

  private registerHelpers(): void {
    this.hbs.registerHelper("statusLabel", (status: ComponentStatus) => STATUS_LABELS[status] ?? status);
    this.hbs.registerHelper("incidentStatusLabel", (status: IncidentStatus) => INCIDENT_STATUS_LABELS[status] ?? status);
    this.hbs.registerHelper("indicatorIcon", (indicator: string) => INDICATOR_ICONS[indicator] ?? "?");
    this.hbs.registerHelper("time", (iso: unknown) => (typeof iso === "string" && iso ? this.timeFormat.format(new Date(iso)) : "never"));
  }
}

function incidentView(incident: Incident) {
  return { ...incident, updates: [...incident.updates].reverse() };
}

function groupsOf(summary: StatusSummary) {
  const groups: { name?: string; status: ComponentStatus; components: { name: string; description?: string; status: ComponentStatus }[] }[] = [];
  for (const view of summary.components) {
    if (view.config.only_show_if_degraded && view.status === "operational") continue;
    const name = view.config.group;
    let group = groups.find((g) => g.name === name);
    if (!group) groups.push((group = { name, status: "operational", components: [] }));
    group.components.push({ name: view.config.name, description: view.config.description, status: view.status });
  }
  for (const group of groups) group.status = worstStatus(group.components.map((c) => c.status));
  return groups;
}
