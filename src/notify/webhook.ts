import { createHmac } from "node:crypto";
import { z } from "zod";
import type { Incident, IncidentUpdate, MaintenanceNoticeType } from "../status/index.ts";
import { postJson, urlSecrets } from "./http.ts";
import { httpUrlSetting, timeoutSetting } from "./settings.ts";
import { defineNotifier, isMaintenanceEvent, type IncidentEvent, type IncidentNotificationType, type MaintenanceEvent, type MaintenanceSubject, type NotificationEvent } from "./types.ts";

/**
 * The incident as webhook receivers get it: the status model's incident
 * without its timeline (the update being announced is sent beside it) and
 * without the store's `revision` counter. Fields are only ever added.
 */
export type WebhookIncident = Omit<Incident, "updates" | "revision">;

/**
 * The body of every webhook POST: about an incident (`incident.*` types) or
 * a maintenance window (`maintenance.*`). `id` equals the `webhook-id`
 * header: receivers use it to process an event once, however often it is
 * retried.
 */
export type WebhookPayload = WebhookIncidentPayload | WebhookMaintenancePayload;

/** The body of a post about an incident, the same for all three incident types. */
export interface WebhookIncidentPayload {
  type: IncidentNotificationType;
  id: string;
  /** When the event occurred (ISO 8601); the attempt's time is in `webhook-timestamp`. */
  timestamp: string;
  data: {
    page: { name: string; url: string };
    incident: WebhookIncident;
    update: IncidentUpdate;
    incident_url: string;
    urgency: "high" | "low";
  };
}

/** The body of a post about a maintenance window: the window, and what the notice says in plain words. */
export interface WebhookMaintenancePayload {
  type: MaintenanceNoticeType;
  id: string;
  timestamp: string;
  /** The event without its envelope: page, maintenance, text ("Scheduled maintenance of Chat starts in 60 minutes …"), body, maintenance_url, urgency. */
  data: Omit<MaintenanceEvent, "id" | "type" | "occurred_at">;
}

const SECRET_PREFIX = "whsec_";
const secretHint = `expected a Standard Webhooks secret: "${SECRET_PREFIX}" then 24 to 64 random bytes in base64, e.g. "${SECRET_PREFIX}" followed by the output of \`openssl rand -base64 32\``;

/** The HMAC key of a `whsec_` secret, or undefined if it is not one. */
function keyOf(secret: string): Buffer | undefined {
  if (!secret.startsWith(SECRET_PREFIX)) return undefined;
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const key = Buffer.from(encoded, "base64");
  return key.length >= 24 && key.length <= 64 ? key : undefined;
}

// The message never quotes the value: it is a secret.
const secretSetting = z.string({ error: secretHint }).refine((s) => keyOf(s) !== undefined, { error: secretHint });

/** Headers this kind sets itself; letting config override them would break signing or framing. */
const RESERVED_HEADERS = new Set(["content-type", "content-length", "host", "transfer-encoding", "connection", "webhook-id", "webhook-timestamp", "webhook-signature"]);

// Names are checked here rather than by a key schema, whose message would only say "Invalid key in record".
const headersSetting = z
  .record(z.string(), z.string().regex(/^[^\r\n\0]*$/, { error: "a header value cannot contain line breaks" }))
  .superRefine((headers, ctx) => {
    for (const name of Object.keys(headers)) {
      if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) ctx.addIssue({ code: "custom", path: [name], message: "expected an HTTP header name like x-team" });
      else if (RESERVED_HEADERS.has(name.toLowerCase())) ctx.addIssue({ code: "custom", path: [name], message: `this header is set by Pulseboard (so are ${[...RESERVED_HEADERS].join(", ")})` });
    }
  });

const settingsSchema = z
  .strictObject({
    url: httpUrlSetting,
    /** Signing secret (`whsec_…`); without one, deliveries are unsigned. */
    secret: secretSetting.optional(),
    /**
     * Several signing secrets, during a rotation: each delivery carries one
     * signature per secret, so the receiver can switch keys without a gap.
     */
    secrets: z.array(secretSetting).min(1).max(10).optional(),
    /** Extra request headers, e.g. `authorization` for a receiver behind a gateway. @defaultValue {} */
    headers: headersSetting.default({}),
    /** @defaultValue "15s" (Standard Webhooks recommends 15-30s) */
    timeout: timeoutSetting(15_000),
  })
  .refine((s) => !(s.secret !== undefined && s.secrets !== undefined), {
    error: 'set "secret" or "secrets", not both: during a rotation list every secret under "secrets"',
  });

/**
 * A generic JSON webhook signed the Standard Webhooks way: `webhook-id`,
 * `webhook-timestamp` (unix seconds of this attempt) and `webhook-signature`,
 * a space-separated list of `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
 * one per configured secret. A 410 Gone answer disables the channel.
 */
export default defineNotifier({
  kind: "webhook",
  description: "JSON POST signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)",
  configSchema: settingsSchema,
  async send(event, settings, ctx) {
    // Standard Webhooks: a `.` in the id would make "id.timestamp.body" ambiguous to verify.
    if (event.id.includes(".")) return { ok: false, retry: false, reason: `event id "${event.id}" contains ".", which Standard Webhooks forbids in webhook-id` };
    const secrets = settings.secrets ?? (settings.secret !== undefined ? [settings.secret] : []);
    const body = JSON.stringify(payloadOf(event));
    const timestamp = String(Math.floor(Date.now() / 1000));
    const headers: Record<string, string> = { ...settings.headers, "webhook-id": event.id, "webhook-timestamp": timestamp };
    if (secrets.length > 0) headers["webhook-signature"] = signatures(secrets, `${event.id}.${timestamp}.${body}`);
    return postJson(
      {
        receiver: "Webhook",
        url: settings.url,
        body,
        headers,
        timeoutMs: settings.timeout,
        secrets: [...secrets, ...secrets.map((s) => s.slice(SECRET_PREFIX.length)), ...Object.values(settings.headers), ...urlSecrets(settings.url)],
      },
      ctx,
    );
  },
});

/** The payload of an event: a stable document receivers can rely on (see WebhookPayload). */
export function payloadOf(event: NotificationEvent): WebhookPayload {
  return isMaintenanceEvent(event) ? maintenancePayloadOf(event) : incidentPayloadOf(event);
}

function incidentPayloadOf(event: IncidentEvent): WebhookIncidentPayload {
  const { incident: i, update: u } = event;
  // Field by field, so the document's shape and order stay as documented whatever the store adds.
  const incident: WebhookIncident = {
    id: i.id,
    name: i.name,
    status: i.status,
    impact: i.impact,
    automatic: i.automatic,
    created_at: i.created_at,
    updated_at: i.updated_at,
    started_at: i.started_at,
    monitoring_at: i.monitoring_at,
    resolved_at: i.resolved_at,
    components: i.components,
    postmortem: i.postmortem,
  };
  const update: IncidentUpdate = {
    id: u.id,
    status: u.status,
    body: u.body,
    created_at: u.created_at,
    display_at: u.display_at,
    affected_components: u.affected_components.map((c) => ({ code: c.code, name: c.name, old_status: c.old_status, new_status: c.new_status })),
    author: { kind: u.author.kind, name: u.author.name },
  };
  return {
    type: event.type,
    id: event.id,
    timestamp: event.occurred_at,
    data: { page: { name: event.page.name, url: event.page.url }, incident, update, incident_url: event.incident_url, urgency: event.urgency },
  };
}

function maintenancePayloadOf(event: MaintenanceEvent): WebhookMaintenancePayload {
  const m = event.maintenance;
  const maintenance: MaintenanceSubject = {
    id: m.id,
    name: m.name,
    status: m.status,
    components: m.components.map((c) => ({ id: c.id, name: c.name })),
    scheduled_for: m.scheduled_for,
    scheduled_until: m.scheduled_until,
  };
  return {
    type: event.type,
    id: event.id,
    timestamp: event.occurred_at,
    data: { page: { name: event.page.name, url: event.page.url }, maintenance, text: event.text, body: event.body, maintenance_url: event.maintenance_url, urgency: event.urgency },
  };
}

function signatures(secrets: string[], content: string): string {
  return secrets.map((secret) => `v1,${createHmac("sha256", keyOf(secret)!).update(content).digest("base64")}`).join(" ");
}
