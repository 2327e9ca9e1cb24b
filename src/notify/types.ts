import type { z } from "zod";
import type { Logger } from "../core/index.ts";
import type { Incident, IncidentUpdate, MaintenanceNoticeType, MaintenanceStatus } from "../status/index.ts";

/** What happened to an incident, from the point of view of the people being told. */
export type IncidentNotificationType = "incident.opened" | "incident.updated" | "incident.resolved";
/** What happened, from the point of view of the people being told: an incident's news, or a maintenance window's. */
export type NotificationType = IncidentNotificationType | MaintenanceNoticeType;

/**
 * One post to on-call engineers: about an incident (IncidentEvent) or a
 * maintenance window (MaintenanceEvent); `type` tells which. The same event
 * goes to every routed channel; its `id` is the idempotency key receivers
 * see (Standard Webhooks' `webhook-id`).
 */
export type NotificationEvent = IncidentEvent | MaintenanceEvent;

/** A post about an incident: the incident and the timeline entry this post is about. */
export interface IncidentEvent {
  id: string;
  type: IncidentNotificationType;
  /** When the timeline entry was written (ISO 8601). */
  occurred_at: string;
  page: { name: string; url: string };
  incident: Incident;
  /** The timeline entry this event announces. */
  update: IncidentUpdate;
  /** Link to the incident on the status page. */
  incident_url: string;
  /** `high` pages someone (critical and major impact); `low` informs. */
  urgency: "high" | "low";
}

/** The maintenance window a post is about, as it stood when the notice was written. */
export interface MaintenanceSubject {
  id: string;
  name: string;
  /** What the notice tells: `scheduled` (a reminder), `in_progress`, `completed` (also when cancelled). */
  status: MaintenanceStatus;
  /** The window's components, by id and name, in page order. */
  components: { id: string; name: string }[];
  scheduled_for: string;
  scheduled_until: string;
}

/**
 * A post about a maintenance window: a reminder before it starts, its start,
 * its completion, or its cancellation after a reminder. Never urgent:
 * maintenance is planned, so it pages no one.
 */
export interface MaintenanceEvent {
  id: string;
  type: MaintenanceNoticeType;
  /** When the notice was written (ISO 8601). */
  occurred_at: string;
  page: { name: string; url: string };
  maintenance: MaintenanceSubject;
  /** The notice in plain words, as customers get it too: "Scheduled maintenance of Chat starts in 60 minutes (14:00 UTC) and lasts until 15:00 UTC." */
  text: string;
  /** The window's own message: its newest timeline entry at the notice. */
  body: string;
  /** Link to the window on the status page. */
  maintenance_url: string;
  urgency: "low";
}

/** True for a post about a maintenance window. */
export function isMaintenanceEvent(event: NotificationEvent): event is MaintenanceEvent {
  return event.type.startsWith("maintenance.");
}

/** What a post is about, for logs and lists: `{ kind: "incident", id, name }` or the maintenance window's. */
export function subjectOf(event: NotificationEvent): { kind: "incident" | "maintenance"; id: string; name: string } {
  return isMaintenanceEvent(event)
    ? { kind: "maintenance", id: event.maintenance.id, name: event.maintenance.name }
    : { kind: "incident", id: event.incident.id, name: event.incident.name };
}

/**
 * How one delivery attempt went. A failure says whether trying again can
 * help (a 5xx, 429 or timeout can; a 400 cannot), and whether the receiver
 * asked to be disabled for good (Standard Webhooks' 410 Gone).
 */
export type DeliveryOutcome =
  /** `skipped`: nothing was sent, on purpose (why, in words): the kind has nothing to do with this event. */
  | { ok: true; status?: number; skipped?: string }
  | { ok: false; retry: boolean; disable?: boolean; status?: number; reason: string; retryAfterMs?: number };

export interface NotifierContext {
  /** Aborts at the attempt's deadline. */
  signal: AbortSignal;
  log: Logger;
}

/**
 * One kind of notification channel: one file in src/notify/. `configSchema`
 * validates a channel's entry in pulseboard.yaml (besides `id` and `kind`).
 */
export interface Notifier<Settings = unknown> {
  kind: string;
  description: string;
  configSchema: z.ZodType<Settings>;
  send(event: NotificationEvent, settings: Settings, ctx: NotifierContext): Promise<DeliveryOutcome>;
}

/** Defines a notifier with its settings type inferred from the schema. */
export function defineNotifier<S extends z.ZodType>(notifier: {
  kind: string;
  description: string;
  configSchema: S;
  send(event: NotificationEvent, settings: z.output<S>, ctx: NotifierContext): Promise<DeliveryOutcome>;
}): Notifier<z.output<S>> {
  return notifier as Notifier<z.output<S>>;
}
