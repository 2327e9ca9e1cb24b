import type { ComponentStatus, IncidentImpact, IncidentStatus, MaintenanceNoticeType } from "../status/index.ts";
import type { IncidentEvent, MaintenanceEvent, NotificationType } from "./types.ts";

/**
 * The wording every channel kind shares, so a post reads the same in Slack,
 * an email and a PagerDuty alert. Kinds add only their format's markup.
 */

const STATUS_LABELS: Record<IncidentStatus, string> = {
  investigating: "Investigating",
  identified: "Identified",
  monitoring: "Monitoring",
  resolved: "Resolved",
  postmortem: "Postmortem",
};

const IMPACT_LABELS: Record<IncidentImpact, string> = {
  none: "None",
  minor: "Minor",
  major: "Major",
  critical: "Critical",
};

const COMPONENT_STATUS_LABELS: Record<ComponentStatus, string> = {
  operational: "Operational",
  under_maintenance: "Under maintenance",
  degraded_performance: "Degraded performance",
  partial_outage: "Partial outage",
  major_outage: "Major outage",
};

const EVENT_LABELS: Record<NotificationType, string> = {
  "incident.opened": "Incident opened",
  "incident.updated": "Incident updated",
  "incident.resolved": "Incident resolved",
  "maintenance.reminder": "Maintenance reminder",
  "maintenance.started": "Maintenance started",
  "maintenance.completed": "Maintenance completed",
  "maintenance.cancelled": "Maintenance cancelled",
};

/** What each maintenance notice says the window is now. */
const MAINTENANCE_STATE_LABELS: Record<MaintenanceNoticeType, string> = {
  "maintenance.reminder": "Scheduled",
  "maintenance.started": "In progress",
  "maintenance.completed": "Completed",
  "maintenance.cancelled": "Cancelled",
};

/** "Investigating", "Resolved", … */
export function statusLabel(status: IncidentStatus): string {
  return STATUS_LABELS[status];
}

/** "Critical", "Minor", … ("None" for an incident without impact). */
export function impactLabel(impact: IncidentImpact): string {
  return IMPACT_LABELS[impact];
}

/** "Major outage", "Operational", … */
export function componentStatusLabel(status: ComponentStatus): string {
  return COMPONENT_STATUS_LABELS[status];
}

/** "Incident opened", "Incident updated", "Incident resolved", "Maintenance reminder", … */
export function eventLabel(type: NotificationType): string {
  return EVENT_LABELS[type];
}

/** True when this post announces the end of the incident (resolved, or a postmortem after it). */
export function isResolution(event: IncidentEvent): boolean {
  return event.type === "incident.resolved" || event.update.status === "resolved" || event.update.status === "postmortem";
}

/**
 * The title every kind leads with: `[Critical] Major outage of Chat — Investigating`
 * (`[Notice]` for an incident without impact, where "[None]" would read as nothing).
 */
export function headline(event: IncidentEvent): string {
  const tag = event.incident.impact === "none" ? "Notice" : impactLabel(event.incident.impact);
  return `[${tag}] ${oneLine(event.incident.name)} — ${statusLabel(event.update.status)}`;
}

/** One line for fallbacks and alert summaries: `Incident opened: Major outage of Chat — Investigating (critical impact)`. */
export function summaryLine(event: IncidentEvent): string {
  const impact = event.incident.impact === "none" ? "no impact" : `${event.incident.impact} impact`;
  return `${eventLabel(event.type)}: ${oneLine(event.incident.name)} — ${statusLabel(event.update.status)} (${impact})`;
}

/**
 * One line per affected component: `Chat: Major outage (was Operational)`.
 * Falls back to the incident's components (by id) when the update lists none.
 */
export function affectedLines(event: IncidentEvent): string[] {
  const listed = event.update.affected_components.map((c) =>
    c.old_status === c.new_status
      ? `${c.name}: ${componentStatusLabel(c.new_status)}`
      : `${c.name}: ${componentStatusLabel(c.new_status)} (was ${componentStatusLabel(c.old_status)})`,
  );
  if (listed.length > 0) return listed;
  return Object.entries(event.incident.components).map(([id, status]) => `${id}: ${componentStatusLabel(status)}`);
}

/** Who wrote the update: `Pulseboard (automatic)` or a person's name. */
export function authorText(event: IncidentEvent): string {
  const { author } = event.update;
  return author.kind === "automatic" ? `${author.name} (automatic)` : author.name;
}

/** "Scheduled" (a reminder), "In progress", "Completed", "Cancelled". */
export function maintenanceStateLabel(event: MaintenanceEvent): string {
  return MAINTENANCE_STATE_LABELS[event.type];
}

/** The title of a maintenance post: `[Maintenance] Cache upgrade — In progress`. */
export function maintenanceHeadline(event: MaintenanceEvent): string {
  return `[Maintenance] ${oneLine(event.maintenance.name)} — ${maintenanceStateLabel(event)}`;
}

/** The window's time: `2025-06-01 14:00 – 15:00 UTC` (the end's date too when it ends another day). */
export function windowText(event: MaintenanceEvent): string {
  const from = formatTime(event.maintenance.scheduled_for);
  const until = formatTime(event.maintenance.scheduled_until);
  return from.slice(0, 10) === until.slice(0, 10) ? `${from.slice(0, 16)} – ${until.slice(11)}` : `${from} – ${until}`;
}

/** The window's components by name: `Chat, Q&A` ("none listed" for none). */
export function maintenanceComponents(event: MaintenanceEvent): string {
  return event.maintenance.components.map((c) => c.name).join(", ") || "none listed";
}

/** What a maintenance post says, in plain words: the notice, then the window's own message when there is one. */
export function maintenanceText(event: MaintenanceEvent): string {
  return event.body.trim() ? `${event.text}\n\n${event.body}` : event.text;
}

/** An ISO time as `2025-06-01 14:03 UTC`; the input unchanged if it does not parse. */
export function formatTime(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return `${new Date(ms).toISOString().slice(0, 16).replace("T", " ")} UTC`;
}

/** Cuts `text` to at most `max` characters, ending with "…" when cut. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  // Never split a surrogate pair: half an emoji is an invalid string to most receivers.
  if (end > 0 && /[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end -= 1;
  return `${text.slice(0, end)}…`;
}

/** Line breaks and runs of spaces as one space, for titles and subjects. */
export function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
