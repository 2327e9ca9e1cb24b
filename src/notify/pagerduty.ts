import { z } from "zod";
import type { IncidentImpact } from "../status/index.ts";
import { hostOf, postJson, urlSecrets, type HttpAnswer } from "./http.ts";
import { affectedLines, authorText, headline, impactLabel, isResolution, oneLine, statusLabel, truncate } from "./render.ts";
import { httpUrlSetting, timeoutSetting } from "./settings.ts";
import { defineNotifier, isMaintenanceEvent, type IncidentEvent } from "./types.ts";

/** The public Events API v2 endpoint (EU accounts use events.eu.pagerduty.com). */
export const PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue";

const settingsSchema = z.strictObject({
  /** The Integration Key of an "Events API v2" integration on a PagerDuty service; it is a secret. */
  routing_key: z
    .string({ error: "expected the 32-character Integration Key of an Events API v2 integration" })
    .length(32, { error: "expected the 32-character Integration Key of an Events API v2 integration (Service → Integrations)" }),
  /** @defaultValue "https://events.pagerduty.com/v2/enqueue" */
  url: httpUrlSetting.default(PAGERDUTY_EVENTS_URL),
  /** The alert's `source`. @defaultValue the status page's host */
  source: z.string().min(1).max(255).optional(),
  /** @defaultValue "10s" */
  timeout: timeoutSetting(10_000),
});

/** PagerDuty severities by incident impact. */
export const SEVERITY: Record<IncidentImpact, "critical" | "error" | "warning" | "info"> = {
  critical: "critical",
  major: "error",
  minor: "warning",
  none: "info",
};

/**
 * PagerDuty Events API v2: every post of an incident carries the same
 * `dedup_key` (`pulseboard-<incident id>`), so PagerDuty keeps one alert per
 * incident: opening and updates `trigger` it (PagerDuty de-duplicates and
 * adds the update to the alert's log), resolution `resolve`s it. 202 is
 * delivered, 400 is not retried, 429 and 5xx are. Maintenance is planned
 * and pages no one: its posts are delivered with nothing sent.
 */
export default defineNotifier({
  kind: "pagerduty",
  description: "PagerDuty Events API v2 alert per incident (trigger, resolve)",
  configSchema: settingsSchema,
  async send(event, settings, ctx) {
    if (isMaintenanceEvent(event)) {
      const skipped = "maintenance is planned and pages no one: nothing sent to PagerDuty";
      ctx.log.info({ event: event.type, maintenance: event.maintenance.id }, skipped);
      return { ok: true, skipped };
    }
    return postJson(
      {
        receiver: "PagerDuty",
        url: settings.url,
        body: JSON.stringify(alertOf(event, settings.routing_key, settings.source)),
        timeoutMs: settings.timeout,
        secrets: [settings.routing_key, ...urlSecrets(settings.url)],
        explain: explainPagerDuty,
      },
      ctx,
    );
  },
});

/** The one dedup_key of every post about an incident. */
export function dedupKeyOf(event: IncidentEvent): string {
  return truncate(`pulseboard-${event.incident.id}`, 255);
}

/** PagerDuty answers 400 with `{ status, message, errors: [...] }`. */
function explainPagerDuty(answer: HttpAnswer) {
  const json = answer.json as { message?: unknown; errors?: unknown } | undefined;
  if (typeof json?.message !== "string") return undefined;
  const errors = Array.isArray(json.errors) ? json.errors.filter((e): e is string => typeof e === "string") : [];
  return { detail: truncate(oneLine([json.message, ...errors].join("; ")), 300) };
}

/** The Events API v2 body for an event. */
export function alertOf(event: IncidentEvent, routingKey: string, source?: string) {
  const affected = affectedLines(event);
  return {
    routing_key: routingKey,
    // A postmortem after resolution must not re-open the alert.
    event_action: isResolution(event) ? "resolve" : "trigger",
    dedup_key: dedupKeyOf(event),
    client: truncate(oneLine(event.page.name), 100),
    client_url: event.page.url,
    payload: {
      summary: truncate(headline(event), 1024),
      source: source ?? hostOf(event.page.url),
      severity: SEVERITY[event.incident.impact],
      timestamp: event.update.display_at,
      component: truncate(event.update.affected_components.map((c) => c.name).join(", ") || Object.keys(event.incident.components).join(", ") || "none", 255),
      group: truncate(oneLine(event.page.name), 255),
      class: "incident",
      custom_details: {
        status: statusLabel(event.update.status),
        impact: impactLabel(event.incident.impact),
        update: event.update.body,
        affected_components: affected,
        posted_by: authorText(event),
        incident_url: event.incident_url,
        event: event.type,
      },
    },
    links: [{ href: event.incident_url, text: "Incident on the status page" }],
  };
}
