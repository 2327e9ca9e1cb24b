import type { ComponentStatus } from "../config/index.ts";

export type { ComponentStatus } from "../config/index.ts";

/** Severity order of component statuses; `under_maintenance` ranks below any trouble. */
const SEVERITY: Record<ComponentStatus, number> = {
  operational: 0,
  under_maintenance: 1,
  degraded_performance: 2,
  partial_outage: 3,
  major_outage: 4,
};

/** The worse of two component statuses. */
export function worseStatus(a: ComponentStatus, b: ComponentStatus): ComponentStatus {
  return SEVERITY[b] > SEVERITY[a] ? b : a;
}

/** The worst of many statuses; `operational` for none. */
export function worstStatus(statuses: Iterable<ComponentStatus>): ComponentStatus {
  let worst: ComponentStatus = "operational";
  for (const status of statuses) worst = worseStatus(worst, status);
  return worst;
}

export function severityOf(status: ComponentStatus): number {
  return SEVERITY[status];
}

export const INCIDENT_STATUSES = ["investigating", "identified", "monitoring", "resolved", "postmortem"] as const;
export type IncidentStatus = (typeof INCIDENT_STATUSES)[number];

export const INCIDENT_IMPACTS = ["none", "minor", "major", "critical"] as const;
export type IncidentImpact = (typeof INCIDENT_IMPACTS)[number];

/** The impact an automatic incident gets from the status of its worst component. */
export function impactOf(status: ComponentStatus): IncidentImpact {
  switch (status) {
    case "major_outage":
      return "critical";
    case "partial_outage":
      return "major";
    case "degraded_performance":
      return "minor";
    default:
      return "none";
  }
}

/** The worse of two incident impacts (none < minor < major < critical). */
export function worseImpact(a: IncidentImpact, b: IncidentImpact): IncidentImpact {
  return INCIDENT_IMPACTS.indexOf(b) > INCIDENT_IMPACTS.indexOf(a) ? b : a;
}

/**
 * The impact an incident has right now, where `impact` is the worst it
 * reached: an automatic incident's follows the current status of its worst
 * component; a manual one's is what its people set.
 */
export function currentImpact(incident: Incident): IncidentImpact {
  return incident.automatic ? impactOf(worstStatus(Object.values(incident.components))) : incident.impact;
}

/** The current state of one component, as stored. */
export interface ComponentState {
  status: ComponentStatus;
  /** When the pipeline first recorded the component (ISO 8601). */
  created_at: string;
  /** When the status last changed (ISO 8601). */
  since: string;
  /** When anything about the component was last written (ISO 8601). */
  updated_at: string;
  /** Why it has this status, in words (a probe's error, a person's note). */
  reason?: string;
}

/** One entry of a component's status history. */
export interface ComponentTransition {
  component: string;
  from: ComponentStatus;
  to: ComponentStatus;
  at: string;
  reason?: string;
}

export interface AffectedComponent {
  /** Component id. */
  code: string;
  name: string;
  old_status: ComponentStatus;
  new_status: ComponentStatus;
}

/** Who wrote an update: the pipeline, or a person through the admin API or CLI. */
export interface Author {
  kind: "automatic" | "person";
  name: string;
}

export interface IncidentUpdate {
  id: string;
  status: IncidentStatus;
  /** What the entry says: on the public page too, unless it is `internal`. */
  body: string;
  created_at: string;
  display_at: string;
  affected_components: AffectedComponent[];
  author: Author;
  /**
   * The on-call timeline only (admin API, on-call channels): never on the
   * page, the Statuspage API, the feeds or subscriber posts.
   * @defaultValue false
   */
  internal?: boolean;
  /** What on-call engineers read instead of `body`: every technical detail (nodes, addresses, probes, steps). */
  detail?: string;
  /**
   * False: on the page, but not posted to status-page subscribers (on-call
   * channels still get it). Stored only when false. @defaultValue true
   */
  notify?: boolean;
  /**
   * Written while its incident was a draft: on the on-call timeline only,
   * like an `internal` entry, even after the incident is published.
   * @defaultValue false
   */
  draft?: boolean;
}

export interface Incident {
  id: string;
  name: string;
  status: IncidentStatus;
  /**
   * The worst impact the incident reached, as Statuspage keeps it: an
   * automatic incident's rises with its components and never falls by
   * itself; a person may set any impact (lower included) through an update.
   * What it is now: {@link currentImpact}.
   */
  impact: IncidentImpact;
  /** Opened by the pipeline (and resolved by it when its components recover). */
  automatic: boolean;
  created_at: string;
  updated_at: string;
  started_at: string;
  monitoring_at: string | null;
  resolved_at: string | null;
  /** Affected components and the status each has in this incident. */
  components: Record<string, ComponentStatus>;
  updates: IncidentUpdate[];
  postmortem: string | null;
  /** Incremented by every write; guards read-modify-write against lost updates. */
  revision: number;
  /**
   * An automatic incident waiting for a person (`incidents.publish: review`):
   * on-call hears of it, customers see nothing of it until it is published.
   * @defaultValue false
   */
  draft?: boolean;
  /** When a draft publishes itself if nobody reviews it; null once it resolved as a draft (it never will). */
  publish_at?: string | null;
  /** When a draft was published (by a person or its review timeout). */
  published_at?: string;
}

export function isUnresolved(incident: Incident): boolean {
  return incident.status !== "resolved" && incident.status !== "postmortem";
}

export const MAINTENANCE_STATUSES = ["scheduled", "in_progress", "verifying", "completed"] as const;
export type MaintenanceStatus = (typeof MAINTENANCE_STATUSES)[number];

export interface MaintenanceUpdate {
  id: string;
  status: MaintenanceStatus;
  body: string;
  created_at: string;
  author: Author;
}

/** A scheduled maintenance window (Statuspage's "scheduled maintenance"). */
export interface Maintenance {
  id: string;
  name: string;
  status: MaintenanceStatus;
  components: string[];
  scheduled_for: string;
  scheduled_until: string;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  completed_at: string | null;
  updates: MaintenanceUpdate[];
  /** `config` for windows from pulseboard.yaml, `admin` for ones a person scheduled. */
  source: "config" | "admin";
  revision: number;
  /**
   * How long before its start subscribers and on-call channels are reminded
   * of the window, in minutes (fractions for windows from pulseboard.yaml
   * written in seconds); 0 sends no reminder. Absent on windows stored before
   * reminders existed: they get the default. @defaultValue 60
   */
  remind_before_minutes?: number;
  /**
   * Whether subscribers and on-call channels are told when the window starts
   * and when it completes. @defaultValue true
   */
  notify?: boolean;
}

/** How long before a window starts its reminder goes out when nobody said. */
export const DEFAULT_REMIND_BEFORE_MINUTES = 60;
/** The longest lead a reminder may have: 7 days, in minutes. */
export const MAX_REMIND_BEFORE_MINUTES = 7 * 24 * 60;

/** How long before its start a window's reminder is due, in ms (0: it has none). */
export function reminderLeadMs(maintenance: Pick<Maintenance, "remind_before_minutes">): number {
  return Math.round((maintenance.remind_before_minutes ?? DEFAULT_REMIND_BEFORE_MINUTES) * 60_000);
}

/**
 * What customers see for a component: `under_maintenance` during one of its
 * maintenance windows (unless an incident says worse), else the worse of what
 * the pipeline computed and what any unresolved (public) incident says of it.
 * With `review` (automatic incidents wait for a person) the computed status
 * is left out: only what public incidents say moves the component, so the
 * page never shows an outage that no incident on it explains.
 */
export function effectiveStatus(
  component: string,
  computed: ComponentState | undefined,
  unresolved: Incident[],
  inMaintenance = false,
  review = false,
): ComponentStatus {
  let status: ComponentStatus = inMaintenance ? "under_maintenance" : review ? "operational" : (computed?.status ?? "operational");
  for (const incident of unresolved) {
    const inIncident = incident.components[component];
    if (inIncident) status = worseStatus(status, inIncident);
  }
  return status;
}

/** The components of every window now in progress. */
export function componentsInMaintenance(maintenances: Maintenance[]): Set<string> {
  return new Set(maintenances.filter((m) => m.status === "in_progress").flatMap((m) => m.components));
}
