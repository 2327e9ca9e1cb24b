import { stableId } from "../core/index.ts";
import {
  maintenanceAsOf,
  maintenanceNoticeText,
  reminderLeadMs,
  type ComponentOutboxEntry,
  type ComponentStatus,
  type Incident,
  type IncidentStatus,
  type Maintenance,
  type MaintenanceNoticeType,
  type MaintenanceOutboxEntry,
  type OutboxEntry,
  type SpMaintenance,
  type StatusSummary,
} from "../status/index.ts";

/**
 * The Statuspage webhook documents subscribers get: `meta`, `page`, and
 * either `incident` (the same object as /api/v2/incidents.json entries; for
 * a maintenance window, as /api/v2/scheduled-maintenances.json entries:
 * impact `maintenance`, status scheduled, in_progress or completed) or
 * `component_update` and `component`, so receivers written for Statuspage
 * work unchanged.
 */

/** The parts of Statuspage's incident document that mail and filters read (the mapper gives all of it). */
export interface StatuspageIncident {
  id: string;
  name: string;
  status: IncidentStatus;
  impact: string;
  shortlink: string;
  /** Newest first. */
  incident_updates: {
    id: string;
    status: string;
    body: string;
    display_at: string;
    affected_components: { code: string; name: string; old_status: ComponentStatus; new_status: ComponentStatus }[] | null;
  }[];
  components: { id: string; name: string; status: ComponentStatus }[];
}

export interface StatuspageComponent {
  id: string;
  name: string;
  status: ComponentStatus;
  created_at: string;
  updated_at: string;
}

/**
 * What builds Statuspage's documents: the web room's StatuspageMapper, handed
 * in by the composition root so both the public API and webhooks speak
 * exactly the same shapes.
 */
export interface StatuspageShapes {
  readonly pageId: string;
  incident(incident: Incident, summary: StatusSummary): StatuspageIncident;
  maintenance(maintenance: Maintenance, summary: StatusSummary): SpMaintenance;
  components(summary: StatusSummary): StatuspageComponent[];
}

/** `page` of every webhook: which page, and how it is doing. */
export interface WebhookPage {
  id: string;
  status_indicator: string;
  status_description: string;
}

export interface WebhookMeta {
  /** The subscriber's own unsubscribe link (GET or POST it). */
  unsubscribe: string | null;
  documentation: string;
}

/** A post about an incident's timeline entry, shared by every subscriber it goes to. */
export interface IncidentPost {
  kind: "incident";
  id: string;
  /** Posts of one thread reach each subscriber in order. */
  thread: string;
  seq: number;
  event: OutboxEntry["type"];
  /** Components the incident touches: who subscribed to one of them gets it. */
  touches: string[];
  page: WebhookPage;
  incident: StatuspageIncident;
}

/** A post about a change of a component's status. */
export interface ComponentPost {
  kind: "component";
  id: string;
  thread: string;
  seq: number;
  touches: string[];
  page: WebhookPage;
  component_update: { created_at: string; new_status: ComponentStatus; old_status: ComponentStatus; id: string; component_id: string };
  component: StatuspageComponent;
}

/**
 * A maintenance window's document as Statuspage sends it: the scheduled
 * maintenance, with Statuspage's fields saying what is announced
 * (`scheduled_remind_prior`, `auto_transition_deliver_notifications_at_*`)
 * and, on the reminder, when it was sent (`scheduled_reminded_at`).
 */
export interface StatuspageMaintenance extends SpMaintenance {
  scheduled_remind_prior: boolean;
  /** When the reminder went out: set on the reminder's post, null on the others. */
  scheduled_reminded_at: string | null;
  scheduled_auto_in_progress: true;
  scheduled_auto_completed: true;
  auto_transition_deliver_notifications_at_start: boolean;
  auto_transition_deliver_notifications_at_end: boolean;
}

/** A post about a maintenance window: its reminder, start, completion or cancellation. */
export interface MaintenancePost {
  kind: "maintenance";
  id: string;
  thread: string;
  seq: number;
  event: MaintenanceNoticeType;
  /** The window's components: who subscribed to one of them gets it. */
  touches: string[];
  page: WebhookPage;
  /** Sent as Statuspage sends maintenance: an incident with impact `maintenance`. */
  incident: StatuspageMaintenance;
  /** The notice in plain words: "Scheduled maintenance of Chat starts in 60 minutes (14:00 UTC) and lasts until 15:00 UTC." */
  text: string;
}

export type SubscriberPost = IncidentPost | ComponentPost | MaintenancePost;

export function pageOf(shapes: StatuspageShapes, summary: StatusSummary): WebhookPage {
  return { id: shapes.pageId, status_indicator: summary.indicator, status_description: summary.description };
}

/** The post announcing timeline entry `index` of an incident. */
export function incidentPost(shapes: StatuspageShapes, summary: StatusSummary, entry: OutboxEntry, incident: Incident, index: number): IncidentPost {
  const update = incident.updates[index]!;
  const touches = new Set([...Object.keys(incident.components), ...update.affected_components.map((a) => a.code)]);
  return {
    kind: "incident",
    id: `i_${update.id}`,
    thread: `incident:${incident.id}`,
    seq: index + 1,
    event: entry.type,
    touches: [...touches],
    page: pageOf(shapes, summary),
    incident: shapes.incident(incidentAsOf(incident, index), summary),
  };
}

/** The post announcing a window's notice: the window as it stood then, its components by name in the notice's words. */
export function maintenancePost(shapes: StatuspageShapes, summary: StatusSummary, entry: MaintenanceOutboxEntry, stored: Maintenance): MaintenancePost {
  const maintenance = maintenanceAsOf(stored, entry);
  // In page order, as on-call posts name them; a component no longer configured by its id.
  const known = summary.components.filter((c) => maintenance.components.includes(c.config.id));
  const names = [...known.map((c) => c.config.name), ...maintenance.components.filter((id) => !known.some((c) => c.config.id === id))];
  return {
    kind: "maintenance",
    id: `m_${entry.id}`,
    thread: `maintenance:${maintenance.id}`,
    seq: entry.seq,
    event: entry.type,
    touches: [...maintenance.components],
    page: pageOf(shapes, summary),
    incident: {
      ...shapes.maintenance(maintenance, summary),
      scheduled_remind_prior: reminderLeadMs(maintenance) > 0,
      scheduled_reminded_at: entry.type === "maintenance.reminder" ? entry.at : null,
      scheduled_auto_in_progress: true,
      scheduled_auto_completed: true,
      auto_transition_deliver_notifications_at_start: maintenance.notify !== false,
      auto_transition_deliver_notifications_at_end: maintenance.notify !== false,
    },
    text: maintenanceNoticeText(entry, names),
  };
}

/** The post announcing a component's change; `streamId` (the outbox entry's) orders and names it. */
export function componentPost(shapes: StatuspageShapes, summary: StatusSummary, entry: ComponentOutboxEntry, streamId: string): ComponentPost | undefined {
  const component = shapes.components(summary).find((c) => c.id === entry.component);
  if (!component) return undefined;
  const id = stableId(`component-update:${streamId}:${entry.component}`);
  return {
    kind: "component",
    id: `c_${id}`,
    thread: `component:${entry.component}`,
    seq: sequenceOf(streamId),
    touches: [entry.component],
    page: pageOf(shapes, summary),
    component_update: { created_at: entry.at, new_status: entry.new_status, old_status: entry.old_status, id, component_id: entry.component },
    // As it was at the change, whatever it is by the time this is sent.
    component: { ...component, status: entry.new_status, updated_at: entry.at },
  };
}

/** The document a webhook subscriber receives: Statuspage's field order, meta first. */
export function webhookBody(post: SubscriberPost, meta: WebhookMeta): Record<string, unknown> {
  if (post.kind === "incident" || post.kind === "maintenance") return { meta, page: post.page, incident: post.incident };
  return { meta, page: post.page, component_update: post.component_update, component: post.component };
}

/**
 * The incident as it stood when timeline entry `index` was written, so a
 * post sent late (after retries, or behind a busy queue) still describes
 * its own moment: later entries left out, status and stamps of that entry.
 */
export function incidentAsOf(incident: Incident, index: number): Incident {
  if (index >= incident.updates.length - 1) return incident;
  const updates = incident.updates.slice(0, index + 1);
  const update = updates.at(-1)!;
  const components: Record<string, ComponentStatus> = {};
  for (const u of updates) for (const a of u.affected_components) components[a.code] = a.new_status;
  const closed = update.status === "resolved" || update.status === "postmortem";
  return {
    ...incident,
    status: update.status,
    updated_at: update.created_at,
    monitoring_at: incident.monitoring_at && incident.monitoring_at <= update.created_at ? incident.monitoring_at : null,
    resolved_at: closed ? (incident.resolved_at ?? update.created_at) : null,
    components: Object.keys(components).length > 0 ? components : incident.components,
    updates,
  };
}

/** A stream entry id (`<ms>-<n>`) as one increasing number. */
function sequenceOf(streamId: string): number {
  const [ms, n] = streamId.split("-");
  return Number(ms) * 1_000 + Math.min(Number(n ?? 0), 999);
}
