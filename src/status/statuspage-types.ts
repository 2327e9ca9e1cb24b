import type { ComponentStatus, IncidentImpact, IncidentStatus, MaintenanceStatus } from "./model.ts";
import type { Indicator } from "./summary.ts";

/**
 * Atlassian Statuspage's public API (v2) documents: field names, nesting,
 * order and enum values as a Statuspage-hosted page serves them, so clients
 * and widgets written for Statuspage read ours unchanged.
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
  /** From 1: among top-level items (groups and ungrouped components), or within its group. */
  position: number;
  description: string | null;
  showcase: boolean;
  start_date: string | null;
  group_id: string | null;
  page_id: string;
  group: boolean;
  only_show_if_degraded: boolean;
  /** Member ids; groups only. */
  components?: string[];
}

export interface SpStatus {
  indicator: Indicator;
  description: string;
}

/** A component's status before and after one update; `name` is "Group - Component" for grouped components. */
export interface SpAffectedComponent {
  code: string;
  name: string;
  old_status: ComponentStatus;
  new_status: ComponentStatus;
}

export interface SpIncidentUpdate<S extends string = IncidentStatus> {
  id: string;
  status: S;
  body: string;
  incident_id: string;
  created_at: string;
  updated_at: string;
  display_at: string;
  /** Every component of the incident so far, or null when it has none. */
  affected_components: SpAffectedComponent[] | null;
  deliver_notifications: boolean;
  custom_tweet: null;
  tweet_id: null;
}

export interface SpIncident {
  id: string;
  name: string;
  status: IncidentStatus;
  created_at: string;
  updated_at: string;
  monitoring_at: string | null;
  resolved_at: string | null;
  impact: IncidentImpact;
  shortlink: string;
  started_at: string;
  page_id: string;
  /** Newest first. */
  incident_updates: SpIncidentUpdate[];
  components: SpComponent[];
  reminder_intervals: null;
}

/** A scheduled maintenance: an incident with maintenance statuses, impact `maintenance` and its window. */
export interface SpMaintenance extends Omit<SpIncident, "status" | "impact" | "incident_updates"> {
  status: MaintenanceStatus;
  impact: "maintenance";
  incident_updates: SpIncidentUpdate<MaintenanceStatus>[];
  scheduled_for: string;
  scheduled_until: string;
}

export interface SpSummary {
  page: SpPage;
  components: SpComponent[];
  incidents: SpIncident[];
  scheduled_maintenances: SpMaintenance[];
  status: SpStatus;
}
