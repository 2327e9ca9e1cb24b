import {
  affectedLines,
  authorText,
  eventLabel,
  formatTime,
  impactLabel,
  isResolution,
  maintenanceComponents,
  maintenanceHeadline,
  maintenanceStateLabel,
  maintenanceText,
  statusLabel,
  summaryLine,
  windowText,
} from "./render.ts";
import { isMaintenanceEvent, type IncidentEvent, type MaintenanceEvent, type NotificationEvent } from "./types.ts";

/** The plain-text body of an email. */
export function textOf(event: NotificationEvent): string {
  return isMaintenanceEvent(event) ? maintenanceTextOf(event) : incidentTextOf(event);
}

/** The HTML body of an email. */
export function htmlOf(event: NotificationEvent): string {
  return isMaintenanceEvent(event) ? maintenanceHtmlOf(event) : incidentHtmlOf(event);
}

function incidentTextOf(event: IncidentEvent): string {
  const lines = [
    summaryLine(event),
    "",
    `Status: ${statusLabel(event.update.status)}`,
    `Impact: ${impactLabel(event.incident.impact)}`,
    `Affected: ${affectedLines(event).join(", ") || "none listed"}`,
    `Posted: ${formatTime(event.update.display_at)} by ${authorText(event)}`,
  ];
  if (event.update.body.trim()) lines.push("", event.update.body);
  lines.push("", `View the incident: ${event.incident_url}`, "", `-- `, `${event.page.name} (${event.page.url})`);
  return lines.join("\n");
}

/** A small HTML body: inline styles only (mail clients drop style sheets), every value escaped. */
function incidentHtmlOf(event: IncidentEvent): string {
  const color = isResolution(event) ? "#1e8e3e" : event.incident.impact === "none" ? "#1a73e8" : event.incident.impact === "minor" ? "#b06000" : "#d93025";
  const affected = affectedLines(event);
  // Values as HTML: each escaped, the affected components one per line.
  const facts: [string, string][] = [
    ["Status", escapeHtml(statusLabel(event.update.status))],
    ["Impact", escapeHtml(impactLabel(event.incident.impact))],
    ["Affected", affected.length > 0 ? affected.map(escapeHtml).join("<br>") : "none listed"],
    ["Posted", escapeHtml(`${formatTime(event.update.display_at)} by ${authorText(event)}`)],
  ];
  const rows = facts.map(([name, html]) => `<tr><th align="left" style="padding:2px 12px 2px 0">${name}</th><td>${html}</td></tr>`).join("");
  const body = event.update.body.trim() ? `<p style="white-space:pre-wrap">${escapeHtml(event.update.body)}</p>` : "";
  return [
    `<!doctype html><html><body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#202124">`,
    `<p style="color:#5f6368;margin:0">${escapeHtml(eventLabel(event.type))} · ${escapeHtml(event.page.name)}</p>`,
    `<h2 style="color:${color};margin:4px 0 12px">${escapeHtml(event.incident.name)}</h2>`,
    `<table style="border-collapse:collapse">${rows}</table>`,
    body,
    `<p><a href="${escapeHtml(event.incident_url)}">View the incident</a></p>`,
    `</body></html>`,
  ].join("\n");
}

function maintenanceTextOf(event: MaintenanceEvent): string {
  return [
    maintenanceHeadline(event),
    "",
    `Status: ${maintenanceStateLabel(event)}`,
    `Window: ${windowText(event)}`,
    `Components: ${maintenanceComponents(event)}`,
    "",
    maintenanceText(event),
    "",
    `View the maintenance: ${event.maintenance_url}`,
    "",
    `-- `,
    `${event.page.name} (${event.page.url})`,
  ].join("\n");
}

function maintenanceHtmlOf(event: MaintenanceEvent): string {
  const facts: [string, string][] = [
    ["Status", maintenanceStateLabel(event)],
    ["Window", windowText(event)],
    ["Components", maintenanceComponents(event)],
  ];
  const rows = facts.map(([name, value]) => `<tr><th align="left" style="padding:2px 12px 2px 0">${name}</th><td>${escapeHtml(value)}</td></tr>`).join("");
  return [
    `<!doctype html><html><body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#202124">`,
    `<p style="color:#5f6368;margin:0">${escapeHtml(eventLabel(event.type))} · ${escapeHtml(event.page.name)}</p>`,
    `<h2 style="color:#1d4ed8;margin:4px 0 12px">${escapeHtml(event.maintenance.name)}</h2>`,
    `<table style="border-collapse:collapse">${rows}</table>`,
    `<p style="white-space:pre-wrap">${escapeHtml(maintenanceText(event))}</p>`,
    `<p><a href="${escapeHtml(event.maintenance_url)}">View the maintenance</a></p>`,
    `</body></html>`,
  ].join("\n");
}

/** Text as HTML: the five characters that could start markup or end an attribute. */
export function escapeHtml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
