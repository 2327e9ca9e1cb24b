import { z } from "zod";
import { postJson, urlSecrets, type HttpAnswer } from "./http.ts";
import {
  affectedLines,
  authorText,
  eventLabel,
  formatTime,
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
  /**
   * The URL of a Teams Workflows (Power Automate) webhook trigger, e.g. from
   * the "Post to a channel when a webhook request is received" template; its
   * `sig` parameter is a secret. Office 365 connector URLs are retired.
   */
  url: httpUrlSetting,
  /** @defaultValue "10s" */
  timeout: timeoutSetting(10_000),
});

/**
 * Microsoft Teams through a Workflows webhook: a message with one Adaptive
 * Card (1.4): the event and page, the incident name coloured by impact, a
 * FactSet of status, impact, affected components and time, the update's
 * text and a button to the incident. Workflows answers 202 Accepted.
 */
export default defineNotifier({
  kind: "teams",
  description: "Microsoft Teams Workflows webhook with an Adaptive Card",
  configSchema: settingsSchema,
  send(event, settings, ctx) {
    return postJson(
      {
        receiver: "Teams workflow",
        url: settings.url,
        body: JSON.stringify(messageOf(event)),
        timeoutMs: settings.timeout,
        secrets: urlSecrets(settings.url),
        explain: explainWorkflow,
      },
      ctx,
    );
  },
});

/** Power Automate answers errors as `{ error: { code, message } }`. */
function explainWorkflow(answer: HttpAnswer) {
  const error = (answer.json as { error?: { code?: unknown; message?: unknown } } | undefined)?.error;
  if (typeof error?.code !== "string") return undefined;
  const message = typeof error.message === "string" ? `: ${truncate(oneLine(error.message), 200)}` : "";
  return { detail: `${error.code}${message}` };
}

/** The Workflows message: an attachment list holding one Adaptive Card. */
export function messageOf(event: NotificationEvent) {
  return isMaintenanceEvent(event)
    ? cardMessage(maintenanceCard(event), { title: "View maintenance", url: event.maintenance_url })
    : cardMessage(incidentCard(event), { title: "View incident", url: event.incident_url });
}

function incidentCard(event: IncidentEvent): unknown[] {
  const body: unknown[] = [
    { type: "TextBlock", text: `${eventLabel(event.type)} · ${oneLine(event.page.name)}`, size: "Small", isSubtle: true, wrap: true },
    { type: "TextBlock", text: truncate(oneLine(event.incident.name), 300), size: "Large", weight: "Bolder", color: colorOf(event), wrap: true },
    {
      type: "FactSet",
      facts: [
        { title: "Status", value: statusLabel(event.update.status) },
        { title: "Impact", value: impactLabel(event.incident.impact) },
        { title: "Affected", value: truncate(affectedLines(event).join(", ") || "none listed", 1000) },
        { title: "Posted", value: `${formatTime(event.update.display_at)} by ${authorText(event)}` },
      ],
    },
  ];
  // Sent as written: TextBlocks render a markdown subset, so an engineer's lists and links still read.
  if (event.update.body.trim()) body.push({ type: "TextBlock", text: truncate(event.update.body, 5000), wrap: true });
  return body;
}

/** A maintenance notice: the window's name, its state, time and components, and what the notice says. */
function maintenanceCard(event: MaintenanceEvent): unknown[] {
  return [
    { type: "TextBlock", text: `${eventLabel(event.type)} · ${oneLine(event.page.name)}`, size: "Small", isSubtle: true, wrap: true },
    { type: "TextBlock", text: truncate(oneLine(event.maintenance.name), 300), size: "Large", weight: "Bolder", color: "Accent", wrap: true },
    {
      type: "FactSet",
      facts: [
        { title: "Status", value: maintenanceStateLabel(event) },
        { title: "Window", value: windowText(event) },
        { title: "Components", value: truncate(maintenanceComponents(event), 1000) },
      ],
    },
    { type: "TextBlock", text: truncate(maintenanceText(event), 5000), wrap: true },
  ];
}

function cardMessage(body: unknown[], link: { title: string; url: string }) {
  return {
    type: "message",
    attachments: [
      {
        contentType: "application/vnd.microsoft.card.adaptive",
        contentUrl: null,
        content: {
          $schema: "http://adaptivecards.io/schemas/adaptive-card.json",
          type: "AdaptiveCard",
          version: "1.4",
          msteams: { width: "Full" },
          body,
          actions: [{ type: "Action.OpenUrl", title: link.title, url: link.url }],
        },
      },
    ],
  };
}

/** Adaptive Card text colours: red for major and critical, amber for minor, green once resolved. */
function colorOf(event: IncidentEvent): string {
  if (isResolution(event)) return "Good";
  switch (event.incident.impact) {
    case "critical":
    case "major":
      return "Attention";
    case "minor":
      return "Warning";
    default:
      return "Default";
  }
}
