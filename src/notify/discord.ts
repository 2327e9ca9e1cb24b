import { z } from "zod";
import type { IncidentImpact } from "../status/index.ts";
import { postJson, urlSecrets, type HttpAnswer } from "./http.ts";
import {
  affectedLines,
  authorText,
  eventLabel,
  impactLabel,
  isResolution,
  maintenanceComponents,
  maintenanceStateLabel,
  maintenanceText,
  oneLine,
  statusLabel,
  truncate,
  windowText,
} from "./render.ts";
import { httpUrlSetting, timeoutSetting } from "./settings.ts";
import { defineNotifier, isMaintenanceEvent, type IncidentEvent, type MaintenanceEvent, type NotificationEvent } from "./types.ts";

const settingsSchema = z.strictObject({
  /** The webhook URL from the channel's Integrations settings (…/api/webhooks/<id>/<token>); it is a secret. */
  url: httpUrlSetting,
  /** The name the posts appear under. @defaultValue the status page's name */
  username: z.string().min(1).max(80).optional(),
  /** @defaultValue "10s" */
  timeout: timeoutSetting(10_000),
});

/** Embed side colours by impact; green once resolved; the page's maintenance blue for maintenance. */
const COLORS: Record<IncidentImpact | "resolved" | "maintenance", number> = {
  none: 0x3498db,
  minor: 0xf1c40f,
  major: 0xe67e22,
  critical: 0xe74c3c,
  resolved: 0x2ecc71,
  maintenance: 0x1d4ed8,
};

/** Discord's embed limits (discord.com/developers/docs/resources/message#embed-object-embed-limits). */
const LIMITS = { title: 256, description: 4096, fieldValue: 1024, footer: 2048, total: 6000 };

/**
 * Discord webhook: one embed (title linking to the incident, the update as
 * description, colour by impact, status/impact/affected fields, timestamp).
 * Mentions are switched off, so text people typed cannot ping @everyone.
 * A 429 is retried after Discord's `retry_after` (seconds, in the body).
 */
export default defineNotifier({
  kind: "discord",
  description: "Discord webhook with an embed",
  configSchema: settingsSchema,
  send(event, settings, ctx) {
    return postJson(
      {
        receiver: "Discord",
        url: settings.url,
        body: JSON.stringify(messageOf(event, settings.username)),
        timeoutMs: settings.timeout,
        secrets: urlSecrets(settings.url),
        explain: explainDiscord,
      },
      ctx,
    );
  },
});

/** Discord answers `{ message, code }`, and on 429 `{ retry_after }` in seconds, more precise than Retry-After. */
function explainDiscord(answer: HttpAnswer) {
  const json = answer.json as { message?: unknown; code?: unknown; retry_after?: unknown } | undefined;
  const retryAfter = typeof json?.retry_after === "number" && json.retry_after >= 0 ? Math.ceil(json.retry_after * 1000) : undefined;
  const detail = typeof json?.message === "string" ? `${truncate(oneLine(json.message), 200)}${json.code !== undefined ? ` (code ${String(json.code)})` : ""}` : undefined;
  return { ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}), ...(detail ? { detail } : {}) };
}

/** The webhook message for an event. */
export function messageOf(event: NotificationEvent, username?: string) {
  const embed = isMaintenanceEvent(event) ? maintenanceEmbed(event) : incidentEmbed(event);
  return { username: truncate(username ?? oneLine(event.page.name), 80), embeds: [embed], allowed_mentions: { parse: [] } };
}

function incidentEmbed(event: IncidentEvent) {
  const title = truncate(`${oneLine(event.incident.name)} — ${statusLabel(event.update.status)}`, LIMITS.title);
  const fields = [
    { name: "Status", value: statusLabel(event.update.status), inline: true },
    { name: "Impact", value: impactLabel(event.incident.impact), inline: true },
    { name: "Affected components", value: truncate(affectedLines(event).join("\n") || "none listed", LIMITS.fieldValue), inline: false },
  ];
  const footer = truncate(`${eventLabel(event.type)} · ${oneLine(event.page.name)} · by ${authorText(event)}`, 300);
  // The whole embed must stay under 6000 characters; the description gives way.
  const used = title.length + footer.length + fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
  const description = truncate(event.update.body, Math.min(LIMITS.description, LIMITS.total - used));
  const embed = {
    title,
    url: event.incident_url,
    ...(description.trim() ? { description } : {}),
    color: COLORS[isResolution(event) ? "resolved" : event.incident.impact],
    fields,
    timestamp: event.update.display_at,
    footer: { text: footer },
  };
  return embed;
}

/** A maintenance notice: the window's name and state, what the notice says, its time and components. */
function maintenanceEmbed(event: MaintenanceEvent) {
  const title = truncate(`${oneLine(event.maintenance.name)} — ${maintenanceStateLabel(event)}`, LIMITS.title);
  const fields = [
    { name: "Status", value: maintenanceStateLabel(event), inline: true },
    { name: "Window", value: windowText(event), inline: true },
    { name: "Components", value: truncate(maintenanceComponents(event), LIMITS.fieldValue), inline: false },
  ];
  const footer = truncate(`${eventLabel(event.type)} · ${oneLine(event.page.name)}`, 300);
  const used = title.length + footer.length + fields.reduce((n, f) => n + f.name.length + f.value.length, 0);
  return {
    title,
    url: event.maintenance_url,
    description: truncate(maintenanceText(event), Math.min(LIMITS.description, LIMITS.total - used)),
    color: COLORS.maintenance,
    fields,
    timestamp: event.occurred_at,
    footer: { text: footer },
  };
}
