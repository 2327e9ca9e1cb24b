import { z } from "zod";
import { postJson, urlSecrets, type HttpAnswer } from "./http.ts";
import {
  affectedLines,
  authorText,
  eventLabel,
  formatTime,
  impactLabel,
  maintenanceComponents,
  maintenanceHeadline,
  maintenanceStateLabel,
  maintenanceText,
  oneLine,
  statusLabel,
  summaryLine,
  truncate,
  windowText,
} from "./render.ts";
import { httpUrlSetting, timeoutSetting } from "./settings.ts";
import { defineNotifier, isMaintenanceEvent, type IncidentEvent, type MaintenanceEvent, type NotificationEvent } from "./types.ts";

const settingsSchema = z.strictObject({
  /** The incoming webhook URL Slack gave (https://hooks.slack.com/services/…); it is a secret. */
  url: httpUrlSetting,
  /** @defaultValue "10s" */
  timeout: timeoutSetting(10_000),
});

/** What Slack's error strings mean for the person fixing the channel. */
const SLACK_ERRORS: Record<string, string> = {
  invalid_payload: "Slack refused the message format (a Pulseboard bug worth reporting)",
  no_service: "the webhook was disabled or removed: create a new incoming webhook",
  no_team: "the Slack workspace is gone or the webhook is wrong",
  team_disabled: "the Slack workspace is disabled",
  channel_not_found: "the webhook's channel no longer exists",
  channel_is_archived: "the webhook's channel is archived",
  action_prohibited: "a workspace admin restricted posting to this channel",
  posting_to_general_channel_denied: "only admins may post to this channel",
  invalid_token: "the webhook URL is not valid",
};

/**
 * Slack incoming webhook: Block Kit `blocks` (header, status and impact,
 * the update, who posted it when, a link to the incident) plus a `text`
 * fallback for notifications. Text people typed is escaped the way Slack
 * asks (& < >), so it cannot ping @channel or forge links.
 */
export default defineNotifier({
  kind: "slack",
  description: "Slack incoming webhook with a Block Kit message",
  configSchema: settingsSchema,
  send(event, settings, ctx) {
    return postJson(
      {
        receiver: "Slack",
        url: settings.url,
        body: JSON.stringify(messageOf(event)),
        timeoutMs: settings.timeout,
        secrets: urlSecrets(settings.url),
        explain: explainSlack,
      },
      ctx,
    );
  },
});

/** Slack answers errors as a bare string ("no_service"); 429 and 5xx are retried by the common rules. */
function explainSlack(answer: HttpAnswer) {
  const code = answer.text.trim();
  const hint = SLACK_ERRORS[code];
  return hint ? { detail: `${code} (${hint})` } : undefined;
}

/** The Block Kit message for an event. */
export function messageOf(event: NotificationEvent) {
  return isMaintenanceEvent(event) ? maintenanceMessageOf(event) : incidentMessageOf(event);
}

function incidentMessageOf(event: IncidentEvent) {
  const when = dateOf(event.update.display_at);
  const blocks: unknown[] = [
    { type: "header", text: { type: "plain_text", text: truncate(oneLine(event.incident.name), 150), emoji: true } },
    {
      type: "section",
      fields: [
        mrkdwn(`*Status*\n${statusLabel(event.update.status)}`),
        mrkdwn(`*Impact*\n${impactLabel(event.incident.impact)}`),
        mrkdwn(`*Affected components*\n${fitEscaped(affectedLines(event).join("\n") || "none listed", 1900)}`),
      ],
    },
  ];
  // A section's text must not be empty; an update can be (a status change alone).
  if (event.update.body.trim()) blocks.push({ type: "section", text: mrkdwn(fitEscaped(event.update.body, 3000)) });
  blocks.push(
    { type: "context", elements: [mrkdwn(`${eventLabel(event.type)} · ${when} · by ${fitEscaped(authorText(event), 500)}`)] },
    { type: "section", text: mrkdwn(`<${escape(event.incident_url)}|View the incident> on ${fitEscaped(oneLine(event.page.name), 200)}`) },
  );
  const fallback = event.update.body.trim() ? `${summaryLine(event)}: ${oneLine(event.update.body)}` : summaryLine(event);
  return { text: fitEscaped(fallback, 3000), blocks };
}

/** A maintenance notice: the window's name, its state, time and components, what the notice says, a link. */
function maintenanceMessageOf(event: MaintenanceEvent) {
  const blocks: unknown[] = [
    { type: "header", text: { type: "plain_text", text: truncate(oneLine(event.maintenance.name), 150), emoji: true } },
    {
      type: "section",
      fields: [
        mrkdwn(`*Status*\n${maintenanceStateLabel(event)}`),
        mrkdwn(`*Window*\n${escape(windowText(event))}`),
        mrkdwn(`*Components*\n${fitEscaped(maintenanceComponents(event), 1900)}`),
      ],
    },
    { type: "section", text: mrkdwn(fitEscaped(maintenanceText(event), 3000)) },
    { type: "context", elements: [mrkdwn(`${eventLabel(event.type)} · ${dateOf(event.occurred_at)}`)] },
    { type: "section", text: mrkdwn(`<${escape(event.maintenance_url)}|View the maintenance> on ${fitEscaped(oneLine(event.page.name), 200)}`) },
  ];
  return { text: fitEscaped(`${maintenanceHeadline(event)}: ${event.text}`, 3000), blocks };
}

/** A time as Slack shows it in the reader's own zone, with UTC as the fallback. */
function dateOf(iso: string): string {
  const unix = Math.floor(Date.parse(iso) / 1000);
  return Number.isFinite(unix) ? `<!date^${unix}^{date_short_pretty} at {time}|${formatTime(iso)}>` : escape(iso);
}

function mrkdwn(text: string) {
  return { type: "mrkdwn", text };
}

/** Slack's three control characters as entities (api.slack.com: formatting, escaping text). */
export function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

/** Escaped text of at most `max` characters, cut between characters so no entity (or emoji) is split. */
function fitEscaped(text: string, max: number): string {
  const whole = escape(text);
  if (whole.length <= max) return whole;
  let out = "";
  for (const char of text) {
    const piece = escape(char);
    if (out.length + piece.length > max - 1) break;
    out += piece;
  }
  return `${out}…`;
}
