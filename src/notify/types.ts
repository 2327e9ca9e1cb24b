import type { z } from "zod";
import type { Logger } from "../core/index.ts";
import type { Incident, IncidentUpdate } from "../status/index.ts";

/** What happened, from the point of view of the people being told. */
export type NotificationType = "incident.opened" | "incident.updated" | "incident.resolved";

/**
 * One post to on-call engineers: an incident and the timeline entry this post
 * is about. The same event goes to every routed channel; its `id` is the
 * idempotency key receivers see (Standard Webhooks' `webhook-id`).
 */
export interface NotificationEvent {
  id: string;
  type: NotificationType;
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

/**
 * How one delivery attempt went. A failure says whether trying again can
 * help (a 5xx, 429 or timeout can; a 400 cannot), and whether the receiver
 * asked to be disabled for good (Standard Webhooks' 410 Gone).
 */
export type DeliveryOutcome =
  | { ok: true; status?: number }
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
