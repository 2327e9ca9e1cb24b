import { componentStatusLabel, escapeHtml, formatTime, oneLine, statusLabel, type SmtpMessage } from "../notify/index.ts";
import type { IncidentPost, MaintenancePost } from "./payloads.ts";

/**
 * The mails subscribers get: short, a text and an HTML body (every value
 * escaped, no remote content), the unsubscribe link in the body and in
 * List-Unsubscribe (one-click, RFC 8058).
 */

export interface MailPage {
  name: string;
  url: string;
}

/** One incident post as a subscriber's mail. */
export function incidentMail(post: IncidentPost, page: MailPage, to: string, unsubscribeUrl: string): SmtpMessage {
  const { incident } = post;
  const update = incident.incident_updates[0];
  const status = update ? statusLabel(update.status as Parameters<typeof statusLabel>[0]) : statusLabel(incident.status);
  const affected = (update?.affected_components ?? []).map((c) => `${c.name}: ${componentStatusLabel(c.new_status)}`);
  const posted = update ? formatTime(update.display_at) : "";
  const text = [
    `${oneLine(incident.name)}`,
    "",
    `${status}${posted ? ` (${posted})` : ""}`,
    ...(update?.body.trim() ? ["", update.body] : []),
    ...(affected.length > 0 ? ["", "Affected:", ...affected.map((line) => `  ${line}`)] : []),
    "",
    `Follow this incident: ${incident.shortlink}`,
    ...textFooter(page, unsubscribeUrl),
  ].join("\n");
  const html = document([
    `<p>${escapeHtml(page.name)}</p>`,
    `<h2>${escapeHtml(incident.name)}</h2>`,
    `<p><strong>${escapeHtml(status)}</strong>${posted ? ` · ${escapeHtml(posted)}` : ""}</p>`,
    update?.body.trim() ? `<p style="white-space:pre-wrap">${escapeHtml(update.body)}</p>` : "",
    affected.length > 0 ? `<p>Affected:<br>${affected.map(escapeHtml).join("<br>")}</p>` : "",
    `<p><a href="${escapeHtml(incident.shortlink)}">Follow this incident</a></p>`,
    footer(page, unsubscribeUrl),
  ]);
  const domain = domainOf(page.url);
  const thread = `<pulseboard.subscriber.${incident.id}@${domain}>`;
  const opening = post.event === "incident.opened";
  return {
    to,
    subject: `[${oneLine(page.name)}] ${oneLine(incident.name)} — ${status}`,
    text,
    html,
    // The opening post starts the thread and the others answer it, so mail clients group an incident;
    // ids are stable, so a retried mail reads as the same message.
    messageId: opening ? thread : `<pulseboard.${post.id}@${domain}>`,
    ...(opening ? {} : { inReplyTo: thread, references: [thread] }),
    headers: listHeaders(unsubscribeUrl, incident.id),
  };
}

/** What a maintenance mail's subject says the window is now. */
const MAINTENANCE_SUBJECTS: Record<MaintenancePost["event"], string> = {
  "maintenance.reminder": "Reminder",
  "maintenance.started": "In progress",
  "maintenance.completed": "Completed",
  "maintenance.cancelled": "Cancelled",
};

/** One maintenance notice as a subscriber's mail: what it says in plain words, the window's own message, its components. */
export function maintenanceMail(post: MaintenancePost, page: MailPage, to: string, unsubscribeUrl: string): SmtpMessage {
  const { incident: maintenance } = post;
  const message = maintenance.incident_updates[0]?.body.trim() ?? "";
  const affected = maintenance.components.map((c) => c.name);
  const text = [
    oneLine(maintenance.name),
    "",
    post.text,
    ...(message ? ["", message] : []),
    ...(affected.length > 0 ? ["", `Components: ${affected.join(", ")}`] : []),
    "",
    `Follow this maintenance: ${maintenance.shortlink}`,
    ...textFooter(page, unsubscribeUrl),
  ].join("\n");
  const html = document([
    `<p>${escapeHtml(page.name)}</p>`,
    `<h2>${escapeHtml(maintenance.name)}</h2>`,
    `<p><strong>${escapeHtml(post.text)}</strong></p>`,
    message ? `<p style="white-space:pre-wrap">${escapeHtml(message)}</p>` : "",
    affected.length > 0 ? `<p>Components: ${escapeHtml(affected.join(", "))}</p>` : "",
    `<p><a href="${escapeHtml(maintenance.shortlink)}">Follow this maintenance</a></p>`,
    footer(page, unsubscribeUrl),
  ]);
  const domain = domainOf(page.url);
  // A window's mails answer one thread id, whichever arrives first (a window may have no reminder).
  const thread = `<pulseboard.subscriber.maintenance.${maintenance.id}@${domain}>`;
  return {
    to,
    subject: `[${oneLine(page.name)}] ${oneLine(maintenance.name)} — ${MAINTENANCE_SUBJECTS[post.event]}`,
    text,
    html,
    messageId: `<pulseboard.${post.id}@${domain}>`,
    inReplyTo: thread,
    references: [thread],
    headers: { ...listHeaders(unsubscribeUrl), "X-Pulseboard-Maintenance": maintenance.id },
  };
}

/** The double opt-in mail: one link to confirm, and what happens if it is ignored. */
export function confirmationMail(page: MailPage, to: string, confirmUrl: string, expiresAt: string, components: string[]): SmtpMessage {
  const which = components.length > 0 ? `incidents affecting ${components.join(", ")}` : "every incident";
  const text = [
    `Someone (hopefully you) asked for e-mail updates from ${page.name} about ${which}.`,
    "",
    `Confirm your subscription: ${confirmUrl}`,
    "",
    `The link works until ${formatTime(expiresAt)}. If you did not ask for this, ignore this mail: nothing will be sent to you.`,
    "",
    "-- ",
    `${page.name} (${page.url})`,
  ].join("\n");
  const html = document([
    `<p>Someone (hopefully you) asked for e-mail updates from ${escapeHtml(page.name)} about ${escapeHtml(which)}.</p>`,
    `<p><a href="${escapeHtml(confirmUrl)}">Confirm your subscription</a></p>`,
    `<p>The link works until ${escapeHtml(formatTime(expiresAt))}. If you did not ask for this, ignore this mail: nothing will be sent to you.</p>`,
    `<p>${escapeHtml(page.name)} (${escapeHtml(page.url)})</p>`,
  ]);
  return { to, subject: `Confirm your subscription to ${oneLine(page.name)}`, text, html, headers: { "Auto-Submitted": "auto-generated" } };
}

function textFooter(page: MailPage, unsubscribeUrl: string): string[] {
  return ["", "-- ", `You get this because you subscribed to ${page.name} (${page.url}).`, `Unsubscribe: ${unsubscribeUrl}`];
}

function footer(page: MailPage, unsubscribeUrl: string): string {
  return `<hr><p>You get this because you subscribed to <a href="${escapeHtml(page.url)}">${escapeHtml(page.name)}</a>. <a href="${escapeHtml(unsubscribeUrl)}">Unsubscribe</a></p>`;
}

function document(parts: string[]): string {
  return [`<!doctype html><html><body style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#202124">`, ...parts.filter(Boolean), `</body></html>`].join("\n");
}

function listHeaders(unsubscribeUrl: string, incident?: string): Record<string, string> {
  return {
    "List-Unsubscribe": `<${unsubscribeUrl}>`,
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    // RFC 3834: out-of-office replies should not answer a machine.
    "Auto-Submitted": "auto-generated",
    ...(incident ? { "X-Pulseboard-Incident": incident } : {}),
  };
}

function domainOf(url: string): string {
  try {
    return new URL(url).hostname || "pulseboard.invalid";
  } catch {
    return "pulseboard.invalid";
  }
}
