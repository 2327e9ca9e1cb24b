import type { Config } from "../config/index.ts";
import { stableId } from "../core/index.ts";
import { worstStatus, type ComponentStatus, type ComponentView, type Incident, type Maintenance, type StatusSummary } from "../status/index.ts";

/**
 * Atlassian Statuspage's public API (v2) shapes: field names, nesting and enum
 * values, so clients and widgets written for Statuspage read ours unchanged.
 */
export interface SpPage {
  id: string;
  name: string;
  url: string;
  time_zone: string;
  updated_at: string;
}

export interface SpComponent {
  id: string;
  name: string;
  status: ComponentStatus;
  created_at: string;
  updated_at: string;
  position: number;
  description: string | null;
  showcase: boolean;
  start_date: string | null;
  group_id: string | null;
  page_id: string;
  group: boolean;
  only_show_if_degraded: boolean;
  components?: string[];
}

export interface SpStatus {
  indicator: StatusSummary["indicator"];
  description: string;
}

export interface SpIncidentUpdate {
  id: string;
  status: Incident["status"];
  body: string;
  incident_id: string;
  created_at: string;
  updated_at: string;
  display_at: string;
  affected_components: { code: string; name: string; old_status: ComponentStatus; new_status: ComponentStatus }[];
  deliver_notifications: boolean;
  custom_tweet: null;
  tweet_id: null;
}

export interface SpIncident {
  id: string;
  name: string;
  status: Incident["status"];
  created_at: string;
  updated_at: string;
  monitoring_at: string | null;
  resolved_at: string | null;
  impact: Incident["impact"];
  shortlink: string;
  started_at: string;
  page_id: string;
  incident_updates: SpIncidentUpdate[];
  components: SpComponent[];
}

export interface SpMaintenance extends Omit<SpIncident, "status" | "impact" | "incident_updates"> {
  status: Maintenance["status"];
  impact: "maintenance";
  incident_updates: (Omit<SpIncidentUpdate, "status"> & { status: Maintenance["status"] })[];
  scheduled_for: string;
  scheduled_until: string;
}

/** Turns the status room's summary into Statuspage documents. */
export class StatuspageMapper {
  readonly pageId: string;

  constructor(private readonly config: Config) {
    this.pageId = stableId(`page:${config.page.url}`);
  }

  page(summary: StatusSummary): SpPage {
    const { name, url, time_zone } = this.config.page;
    return { id: this.pageId, name, url: url.replace(/\/$/, ""), time_zone, updated_at: summary.updated_at };
  }

  status(summary: StatusSummary): SpStatus {
    return { indicator: summary.indicator, description: summary.description };
  }

  /** Components in page order, each group right before its members (as Statuspage lists them). */
  components(summary: StatusSummary): SpComponent[] {
    const out: SpComponent[] = [];
    const groupsDone = new Set<string>();
    for (const view of summary.components) {
      const group = view.config.group;
      if (group && !groupsDone.has(group)) {
        groupsDone.add(group);
        const members = summary.components.filter((c) => c.config.group === group);
        out.push(this.group(group, members, summary, out.length + 1));
      }
      out.push(this.component(view, summary, out.length + 1));
    }
    return out;
  }

  incident(incident: Incident, summary: StatusSummary): SpIncident {
    const views = new Map(summary.components.map((c) => [c.config.id, c]));
    return {
      id: incident.id,
      name: incident.name,
      status: incident.status,
      created_at: incident.created_at,
      updated_at: incident.updated_at,
      monitoring_at: incident.monitoring_at,
      resolved_at: incident.resolved_at,
      impact: incident.impact,
      shortlink: `${this.config.page.url.replace(/\/$/, "")}/incidents/${incident.id}`,
      started_at: incident.started_at,
      page_id: this.pageId,
      incident_updates: [...incident.updates].reverse().map((u) => ({
        id: u.id,
        status: u.status,
        body: u.body,
        incident_id: incident.id,
        created_at: u.created_at,
        updated_at: u.created_at,
        display_at: u.display_at,
        affected_components: u.affected_components.map((a) => ({ code: a.code, name: a.name, old_status: a.old_status, new_status: a.new_status })),
        deliver_notifications: true,
        custom_tweet: null,
        tweet_id: null,
      })),
      components: Object.keys(incident.components).flatMap((id) => {
        const view = views.get(id);
        return view ? [this.component(view, summary, view.position)] : [];
      }),
    };
  }

  /** A maintenance window in Statuspage's scheduled-maintenance shape (an incident with schedule fields). */
  maintenance(maintenance: Maintenance, summary: StatusSummary): SpMaintenance {
    const views = new Map(summary.components.map((c) => [c.config.id, c]));
    return {
      id: maintenance.id,
      name: maintenance.name,
      status: maintenance.status,
      created_at: maintenance.created_at,
      updated_at: maintenance.updated_at,
      monitoring_at: null,
      resolved_at: maintenance.completed_at,
      impact: "maintenance",
      shortlink: `${this.config.page.url.replace(/\/$/, "")}/incidents/${maintenance.id}`,
      started_at: maintenance.started_at ?? maintenance.scheduled_for,
      page_id: this.pageId,
      incident_updates: [...maintenance.updates].reverse().map((u) => ({
        id: u.id,
        status: u.status,
        body: u.body,
        incident_id: maintenance.id,
        created_at: u.created_at,
        updated_at: u.created_at,
        display_at: u.created_at,
        affected_components: maintenance.components.map((code) => ({
          code,
          name: views.get(code)?.config.name ?? code,
          old_status: "operational" as ComponentStatus,
          new_status: "under_maintenance" as ComponentStatus,
        })),
        deliver_notifications: true,
        custom_tweet: null,
        tweet_id: null,
      })),
      components: maintenance.components.flatMap((id) => {
        const view = views.get(id);
        return view ? [this.component(view, summary, view.position)] : [];
      }),
      scheduled_for: maintenance.scheduled_for,
      scheduled_until: maintenance.scheduled_until,
    };
  }

  summary(summary: StatusSummary) {
    return {
      page: this.page(summary),
      components: this.components(summary),
      incidents: summary.unresolved.map((i) => this.incident(i, summary)),
      scheduled_maintenances: summary.maintenances.map((m) => this.maintenance(m, summary)),
      status: this.status(summary),
    };
  }

  private component(view: ComponentView, summary: StatusSummary, position: number): SpComponent {
    const created = view.computed?.created_at ?? summary.generated_at;
    return {
      id: view.config.id,
      name: view.config.name,
      status: view.status,
      created_at: created,
      updated_at: view.computed?.updated_at ?? created,
      position,
      description: view.config.description ?? null,
      showcase: view.config.showcase,
      start_date: null,
      group_id: view.config.group ? groupId(view.config.group) : null,
      page_id: this.pageId,
      group: false,
      only_show_if_degraded: view.config.only_show_if_degraded,
    };
  }

  private group(name: string, members: ComponentView[], summary: StatusSummary, position: number): SpComponent {
    const stamps = members.map((m) => m.computed?.updated_at ?? summary.generated_at).sort();
    return {
      id: groupId(name),
      name,
      status: worstStatus(members.map((m) => m.status)),
      created_at: members.map((m) => m.computed?.created_at ?? summary.generated_at).sort()[0]!,
      updated_at: stamps.at(-1)!,
      position,
      description: null,
      showcase: false,
      start_date: null,
      group_id: null,
      page_id: this.pageId,
      group: true,
      only_show_if_degraded: false,
      components: members.map((m) => m.config.id),
    };
  }
}

export function groupId(name: string): string {
  return `group-${stableId(`group:${name}`)}`;
}
