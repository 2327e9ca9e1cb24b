import type { ComponentStatus, Indicator, IncidentStatus, MaintenanceStatus } from "../status/index.ts";

/**
 * The words the public side uses for statuses, so the page, feeds and badges
 * say the same thing. A status is never shown by colour alone.
 */

export const COMPONENT_STATUS_LABELS: Record<ComponentStatus, string> = {
  operational: "Operational",
  degraded_performance: "Degraded performance",
  partial_outage: "Partial outage",
  major_outage: "Major outage",
  under_maintenance: "Under maintenance",
};

export const INCIDENT_STATUS_LABELS: Record<IncidentStatus, string> = {
  investigating: "Investigating",
  identified: "Identified",
  monitoring: "Monitoring",
  resolved: "Resolved",
  postmortem: "Postmortem",
};

export const MAINTENANCE_STATUS_LABELS: Record<MaintenanceStatus, string> = {
  scheduled: "Scheduled",
  in_progress: "In progress",
  verifying: "Verifying",
  completed: "Completed",
};

/** The page's overall status in a few words (the badge's message), by indicator. */
export const INDICATOR_SHORT_LABELS: Record<Indicator, string> = {
  none: "operational",
  minor: "minor outage",
  major: "partial outage",
  critical: "major outage",
  maintenance: "maintenance",
};
