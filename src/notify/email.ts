import type { SendMailOptions } from "nodemailer";
import { z } from "zod";
import { describeError } from "../core/index.ts";
import { formatDuration } from "../config/index.ts";
import { lazyPackage, scrub } from "../core/index.ts";
import { htmlOf, textOf } from "./email-body.ts";
import { headline, maintenanceHeadline } from "./render.ts";
import { timeoutSetting, tlsOptions, tlsSetting } from "./settings.ts";
import { defineNotifier, isMaintenanceEvent, type DeliveryOutcome, type NotificationEvent, type NotifierContext } from "./types.ts";

/** Loaded at the first mail: a role that never mails does not hold nodemailer. */
const nodemailer = lazyPackage<typeof import("nodemailer")>("nodemailer");

const addressHint = 'expected an email address like "oncall@example.com" or "Pulseboard <status@example.com>"';
const address = z.string({ error: addressHint }).regex(/^(?:[^<>\r\n]*<[^\s@<>]+@[^\s@<>]+>|[^\s@<>]+@[^\s@<>]+)$/, { error: addressHint });

const settingsSchema = z
  .strictObject({
    host: z.string({ error: "expected the SMTP server's host name" }).min(1),
    /** @defaultValue 465 when `secure`, else 587 */
    port: z.int().min(1).max(65535).optional(),
    /** TLS from the first byte (SMTPS, usually port 465). @defaultValue false */
    secure: z.boolean().default(false),
    /**
     * Without `secure`: `true` requires a STARTTLS upgrade, `false` never
     * upgrades (a local relay), unset upgrades when the server offers it.
     */
    starttls: z.boolean().optional(),
    /** Trust for the server's certificate (`ca`, `insecure`). @defaultValue the system's CAs */
    tls: tlsSetting.optional(),
    user: z.string().min(1).optional(),
    /** Write it as ${SMTP_PASSWORD} rather than in the file. */
    pass: z.string().min(1).optional(),
    from: address,
    to: z.array(address).min(1, { error: "list at least one recipient" }).max(100),
    /** Limit for connecting, the greeting and each SMTP reply. @defaultValue "20s" */
    timeout: timeoutSetting(20_000),
  })
  .refine((s) => (s.user === undefined) === (s.pass === undefined), { error: "set both user and pass, or neither" });

type EmailSettings = z.output<typeof settingsSchema>;

/** What nodemailer puts on its errors. */
interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
  permanent?: boolean;
  /** The SMTP command the server answered ("RCPT TO", "STARTTLS", …). */
  command?: string;
  /** The socket's own code under ESOCKET ("DEPTH_ZERO_SELF_SIGNED_CERT", "ERR_TLS_CERT_ALTNAME_INVALID", …). */
  originalCode?: string;
}

/** Node's codes for a server certificate it does not accept (untrusted, expired, for another name). */
const TLS_CODE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS_/;

/** nodemailer codes for mistakes in the settings or the message: retrying repeats them. */
const CONFIG_CODES = new Set(["EAUTH", "ENOAUTH", "ECONFIG", "EENVELOPE", "EREQUIRETLS", "EMAXRECIPIENTS"]);

/**
 * Email through SMTP (nodemailer): subject `[Critical] Major outage of Chat —
 * Investigating`, a text and an HTML body (everything people typed
 * escaped), all posts of one incident threaded together. SMTP 4xx replies
 * and connection trouble are retried, 5xx replies are not.
 */
export default defineNotifier({
  kind: "email",
  description: "Email through an SMTP server",
  configSchema: settingsSchema,
  send(event, settings, ctx) {
    return sendSmtp(settings, messageOf(event, settings), ctx);
  },
});

/** How to reach an SMTP server and who sends: an email channel's settings without its recipients. */
export type SmtpSettings = Omit<EmailSettings, "to">;

/** One message for sendSmtp: recipients, subject, bodies and any headers (nodemailer's message fields). */
export type SmtpMessage = Omit<SendMailOptions, "signal">;

/**
 * Sends one message through the SMTP server of `settings` on a connection of
 * its own and classifies what happened, never throwing: SMTP 4xx replies and
 * connection trouble can be retried, 5xx replies cannot. Shared by the email
 * channel and anything else that mails (status-page subscribers).
 */
export async function sendSmtp(settings: SmtpSettings, message: SmtpMessage, ctx: NotifierContext): Promise<DeliveryOutcome> {
  const target = `SMTP server ${settings.host}:${portOf(settings)}`;
  const transport = nodemailer().createTransport({
    host: settings.host,
    port: portOf(settings),
    secure: settings.secure,
    requireTLS: settings.starttls === true,
    ignoreTLS: settings.starttls === false,
    ...(settings.tls ? { tls: tlsOptions(settings.tls) } : {}),
    ...(settings.user !== undefined ? { auth: { user: settings.user, pass: settings.pass } } : {}),
    connectionTimeout: settings.timeout,
    greetingTimeout: settings.timeout,
    socketTimeout: settings.timeout,
    // An aborted send must not leave its socket waiting for the server to hang up.
    socketCloseTimeout: 1_000,
  });
  const timer = new AbortController();
  const timeout = setTimeout(() => timer.abort(), settings.timeout);
  const started = performance.now();
  let outcome: DeliveryOutcome;
  try {
    const info = await transport.sendMail({ ...message, signal: AbortSignal.any([ctx.signal, timer.signal]) });
    if (info.rejected.length > 0) ctx.log.warn({ rejected: info.rejected.map(String) }, "the SMTP server refused some recipients; the others got the message");
    outcome = { ok: true };
  } catch (err) {
    outcome = explain(err as SmtpError, target, ctx.signal.aborted ? undefined : timer.signal.aborted ? settings.timeout : undefined);
  } finally {
    clearTimeout(timeout);
    transport.close();
  }
  if (!outcome.ok) outcome = { ...outcome, reason: scrub(outcome.reason, settings.pass ? [settings.pass] : []) };
  ctx.log.debug({ receiver: "SMTP", host: settings.host, ms: Math.round(performance.now() - started), ...outcome }, outcome.ok ? "notification delivered" : "notification not delivered");
  return outcome;
}

function portOf(settings: SmtpSettings): number {
  return settings.port ?? (settings.secure ? 465 : 587);
}

/** An SMTP failure as an outcome: the reply class decides, connection trouble is retried. */
function explain(err: SmtpError, target: string, ownTimeoutMs: number | undefined): DeliveryOutcome {
  if (err.code === "EABORT" || err.name === "AbortError") {
    const why = ownTimeoutMs !== undefined ? `after ${formatDuration(ownTimeoutMs)}` : "at the delivery deadline";
    return { ok: false, retry: true, reason: `timed out ${why} waiting for ${target}` };
  }
  if (typeof err.responseCode === "number" && err.responseCode >= 400) {
    // nodemailer knows RFC 5321's exception (503 is a session problem, not a refusal).
    const permanent = err.permanent ?? err.responseCode >= 500;
    const reply = err.response ? err.response.replace(/\s+/g, " ").trim().slice(0, 300) : String(err.responseCode);
    const what = permanent ? "refused" : "deferred";
    const at = err.command ? ` at ${err.command.split(" ").slice(0, 2).join(" ")}` : "";
    const hint = err.command === "STARTTLS" ? " (the server offers no TLS upgrade; starttls: true requires one)" : "";
    return { ok: false, retry: !permanent, status: err.responseCode, reason: `${target} ${what} the message${at}: ${reply}${hint}` };
  }
  if (err.originalCode && TLS_CODE.test(err.originalCode)) {
    return { ok: false, retry: true, reason: `${target} presented a certificate that was refused: ${err.message} (${err.originalCode}); trust its issuer with the channel's tls.ca, or connect by a name the certificate lists` };
  }
  if (err.code === "ETIMEDOUT") return { ok: false, retry: true, reason: `timed out waiting for ${target}: ${describeError(err)}` };
  if (err.code && CONFIG_CODES.has(err.code)) return { ok: false, retry: false, reason: `${target} could not take the message: ${describeError(err)}` };
  return { ok: false, retry: true, reason: `could not reach ${target}: ${describeError(err)}` };
}

/** The message: subject, both bodies, and headers that thread an incident's (or a maintenance window's) posts. */
export function messageOf(event: NotificationEvent, settings: Pick<EmailSettings, "from" | "to">) {
  const domain = domainOf(event.page.url);
  if (isMaintenanceEvent(event)) {
    // A window's posts answer one thread id, whichever of them arrives first.
    const thread = `<pulseboard.maintenance.${event.maintenance.id}@${domain}>`;
    return {
      from: settings.from,
      to: settings.to,
      subject: maintenanceHeadline(event),
      text: textOf(event),
      html: htmlOf(event),
      messageId: `<pulseboard.${event.id}@${domain}>`,
      inReplyTo: thread,
      references: [thread],
      priority: "normal" as const,
      headers: { "Auto-Submitted": "auto-generated", "X-Pulseboard-Maintenance": event.maintenance.id },
    };
  }
  const thread = `<pulseboard.incident.${event.incident.id}@${domain}>`;
  const opening = event.type === "incident.opened";
  return {
    from: settings.from,
    to: settings.to,
    subject: headline(event),
    text: textOf(event),
    html: htmlOf(event),
    // The opening post starts the thread; the others answer it, so mail clients group an incident.
    messageId: opening ? thread : `<pulseboard.${event.id}@${domain}>`,
    ...(opening ? {} : { inReplyTo: thread, references: [thread] }),
    priority: event.urgency === "high" ? ("high" as const) : ("normal" as const),
    // RFC 3834: out-of-office replies should not answer a machine.
    headers: { "Auto-Submitted": "auto-generated", "X-Pulseboard-Incident": event.incident.id },
  };
}

function domainOf(url: string): string {
  try {
    return new URL(url).hostname || "pulseboard.invalid";
  } catch {
    return "pulseboard.invalid";
  }
}
