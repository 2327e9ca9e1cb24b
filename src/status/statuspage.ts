import type { Config } from "../config/index.ts";
import { stableId } from "../core/index.ts";
import { worstStatus, type ComponentStatus, type Incident, type Maintenance, type MaintenanceStatus } from "./model.ts";
import type { ComponentView, StatusSummary } from "./summary.ts";
import type { SpAffectedComponent, SpComponent, SpIncident, SpIncidentUpdate, SpMaintenance, SpPage, SpStatus, SpSummary } from "./statuspage-types.ts";

export type * from "./statuspage-types.ts";

/** What a maintenance's components show after each of its updates (Statuspage's automatic transitions). */
const MAINTENANCE_COMPONENT_STATUS: Record<MaintenanceStatus, ComponentStatus> = {
  scheduled: "operational",
  in_progress: "under_maintenance",
  verifying: "under_maintenance",
  completed: "operational",
};

/** Lookups over one summary's components, built once per summary. */
interface ComponentIndex {
  views: Map<string, ComponentView>;
  /** Statuspage positions: top-level items count from 1, members of a group count from 1 within it. */
  positions: Map<string, number>;
}

/**
 * Turns the status room's summary into Statuspage's public API (v2)
 * documents. Checked against pages Statuspage serves (GitHub, Discord,
 * Payfast): updates newest first, `affected_components` listing every
 * component of the incident so far (null when none), grouped components named
 * "Group - Component" there, positions counted per level.
 */
export class StatuspageMapper {
  readonly pageId: string;
  /** The page's public URL without a trailing slash. */
  readonly baseUrl: string;
  private readonly indexes = new WeakMap<StatusSummary, ComponentIndex>();

  constructor(private readonly config: Config) {
    this.pageId = stableId(`page:${config.page.url}`);
    this.baseUrl = config.page.url.replace(/\/+$/, "");
  }

  page(summary: StatusSummary): SpPage {
    const { name, time_zone } = this.config.page;
    return { id: this.pageId, name, url: this.baseUrl, time_zone, updated_at: summary.updated_at };
  }

  status(summary: StatusSummary): SpStatus {
    return { indicator: summary.indicator, description: summary.description };
  }

  /** Components in page order, each group right before its members (as Statuspage lists them). */
  components(summary: StatusSummary): SpComponent[] {
    const out: SpComponent[] = [];
    const groupsDone = new Set<string>();
    let topLevel = 0;
    for (const view of summary.components) {
      const group = view.config.group;
      if (group && !groupsDone.has(group)) {
        groupsDone.add(group);
        const members = summary.components.filter((c) => c.config.group === group);
        out.push(this.group(group, members, summary, ++topLevel));
      }
      out.push(this.component(view, summary));
    }
    return out;
  }

  incident(incident: Incident, summary: StatusSummary): SpIncident {
    return {
      id: incident.id,
      name: incident.name,
      status: incident.status,
      created_at: incident.created_at,
      updated_at: incident.updated_at,
      monitoring_at: incident.monitoring_at,
      resolved_at: incident.resolved_at,
      impact: incident.impact,
      shortlink: this.incidentUrl(incident.id),
      started_at: incident.started_at,
      page_id: this.pageId,
      incident_updates: this.incidentUpdates(incident, summary),
      components: this.componentsOf(Object.keys(incident.components), summary),
      reminder_intervals: null,
    };
  }

  /** A maintenance window in Statuspage's scheduled-maintenance shape (an incident with schedule fields). */
  maintenance(maintenance: Maintenance, summary: StatusSummary): SpMaintenance {
    return {
      id: maintenance.id,
      name: maintenance.name,
      status: maintenance.status,
      created_at: maintenance.created_at,
      updated_at: maintenance.updated_at,
      // Statuspage stamps these as for an incident: verifying is its "monitoring", completed its "resolved".
      monitoring_at: maintenance.updates.find((u) => u.status === "verifying")?.created_at ?? null,
      resolved_at: maintenance.completed_at,
      impact: "maintenance",
      shortlink: this.incidentUrl(maintenance.id),
      // Statuspage's started_at of a maintenance is when it was posted; the window is scheduled_for/until.
      started_at: maintenance.created_at,
      page_id: this.pageId,
      incident_updates: this.maintenanceUpdates(maintenance, summary),
      components: this.componentsOf(maintenance.components, summary),
      reminder_intervals: null,
      scheduled_for: maintenance.scheduled_for,
      scheduled_until: maintenance.scheduled_until,
    };
  }

  summary(summary: StatusSummary): SpSummary {
    return {
      page: this.page(summary),
      components: this.components(summary),
      incidents: summary.unresolved.map((i) => this.incident(i, summary)),
      scheduled_maintenances: summary.maintenances.map((m) => this.maintenance(m, summary)),
      status: this.status(summary),
    };
  }

  incidentUrl(id: string): string {
    return `${this.baseUrl}/incidents/${id}`;
  }

  /** Newest first; each lists every component the incident has had so far, before and after the update. */
  private incidentUpdates(incident: Incident, summary: StatusSummary): SpIncidentUpdate[] {
    const current = new Map<string, ComponentStatus>();
    const names = new Map<string, string>();
    const updates = incident.updates.map((update) => {
      const before = new Map(current);
      const changed = new Map(update.affected_components.map((a) => [a.code, a]));
      for (const a of update.affected_components) {
        current.set(a.code, a.new_status);
        names.set(a.code, a.name);
      }
      const affected = [...current].map(([code, status]) =>
        this.affected(code, names.get(code) ?? code, changed.get(code)?.old_status ?? before.get(code) ?? status, status, summary),
      );
      return this.update(incident.id, update, update.display_at, affected);
    });
    return updates.reverse();
  }

  private maintenanceUpdates(maintenance: Maintenance, summary: StatusSummary): SpIncidentUpdate<MaintenanceStatus>[] {
    let previous: ComponentStatus = "operational";
    const updates = maintenance.updates.map((update) => {
      const next = MAINTENANCE_COMPONENT_STATUS[update.status];
      const affected = maintenance.components.map((code) => this.affected(code, code, previous, next, summary));
      previous = next;
      return this.update(maintenance.id, update, update.created_at, affected);
    });
    return updates.reverse();
  }

  private update<S extends string>(
    incidentId: string,
    update: { id: string; status: S; body: string; created_at: string; notify?: boolean },
    displayAt: string,
    affected: SpAffectedComponent[],
  ): SpIncidentUpdate<S> {
    return {
      id: update.id,
      status: update.status,
      body: update.body,
      incident_id: incidentId,
      created_at: update.created_at,
      updated_at: update.created_at,
      display_at: displayAt,
      affected_components: affected.length > 0 ? affected : null,
      deliver_notifications: update.notify !== false,
      custom_tweet: null,
      tweet_id: null,
    };
  }

  /** `storedName` is used only for a component no longer configured. */
  private affected(code: string, storedName: string, oldStatus: ComponentStatus, newStatus: ComponentStatus, summary: StatusSummary): SpAffectedComponent {
    const view = this.index(summary).views.get(code);
    const name = view ? (view.config.group ? `${view.config.group} - ${view.config.name}` : view.config.name) : storedName;
    return { code, name, old_status: oldStatus, new_status: newStatus };
  }

  /** The given components as they are now, in page order. */
  private componentsOf(ids: string[], summary: StatusSummary): SpComponent[] {
    const wanted = new Set(ids);
    return summary.components.filter((view) => wanted.has(view.config.id)).map((view) => this.component(view, summary));
  }

  private component(view: ComponentView, summary: StatusSummary): SpComponent {
    const created = view.computed?.created_at ?? summary.generated_at;
    return {
      id: view.config.id,
      name: view.config.name,
      status: view.status,
      created_at: created,
      updated_at: view.computed?.updated_at ?? created,
      position: this.index(summary).positions.get(view.config.id) ?? view.position,
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

  private index(summary: StatusSummary): ComponentIndex {
    let index = this.indexes.get(summary);
    if (index) return index;
    const positions = new Map<string, number>();
    const groups = new Map<string, number>();
    let topLevel = 0;
    for (const view of summary.components) {
      const group = view.config.group;
      if (!group) {
        positions.set(view.config.id, ++topLevel);
        continue;
      }
      if (!groups.has(group)) topLevel++;
      const within = (groups.get(group) ?? 0) + 1;
      groups.set(group, within);
      positions.set(view.config.id, within);
    }
    index = { views: new Map(summary.components.map((c) => [c.config.id, c])), positions };
    this.indexes.set(summary, index);
    return index;
  }
}

/** The id of a component group, derived from its name. */
export function groupId(name: string): string {
  return `group-${stableId(`group:${name}`)}`;
}
