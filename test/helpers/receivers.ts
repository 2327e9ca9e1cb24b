import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import { SMTPServer, type SMTPServerSession } from "smtp-server";
import { notifiers, type DeliveryOutcome, type IncidentEvent, type MaintenanceEvent, type NotificationEvent, type NotifierContext, type NotifierKind } from "../../src/notify/index.ts";
import type { Incident, IncidentStatus, IncidentUpdate } from "../../src/status/index.ts";
import { waitFor } from "./wait.ts";

/**
 * Real receivers on loopback for notification channel tests: an HTTP server
 * standing in for Slack, Teams, Discord, PagerDuty or any webhook, and an
 * SMTP server. Both record what they get, can be told how to answer the
 * next requests, and can be stopped and started again on the same port.
 */

// ─── HTTP ─────────────────────────────────────────────────────────────────

export interface RecordedRequest {
  method: string;
  /** Path and query, as sent. */
  path: string;
  headers: http.IncomingHttpHeaders;
  raw: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** When the whole request had arrived (epoch ms), to measure the gaps between attempts. */
  at: number;
}

/** How to answer one request. */
export interface ScriptedAnswer {
  /** @defaultValue 200 */
  status?: number;
  /** A string as is, anything else as JSON. @defaultValue "ok" */
  body?: unknown;
  headers?: Record<string, string>;
  /** Wait this long before answering (a client that gives up first closes the socket). */
  delayMs?: number;
  /** Answer with the request (path, headers, body) in the body, as some receivers do in errors. */
  echo?: boolean;
}

export class HttpReceiver {
  readonly requests: RecordedRequest[] = [];
  private readonly script: ScriptedAnswer[] = [];
  private readonly sockets = new Set<Socket>();
  private server!: http.Server;

  private constructor(
    public port: number,
    private readonly fallback: ScriptedAnswer,
  ) {}

  /** Starts on a free loopback port; requests not scripted get `fallback` (200 "ok"). */
  static async start(fallback: ScriptedAnswer = {}): Promise<HttpReceiver> {
    const receiver = new HttpReceiver(0, fallback);
    await receiver.listen();
    return receiver;
  }

  /** The receiver's URL for `path`. */
  url(path = "/"): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** Answers the next `times` requests this way (after any already scripted). */
  answer(next: ScriptedAnswer, times = 1): this {
    for (let i = 0; i < times; i++) this.script.push(next);
    return this;
  }

  /**
   * Connections clients hold open right now. Answers close theirs, so these
   * are requests in flight or sockets a client left behind.
   */
  openConnections(): number {
    return this.sockets.size;
  }

  /** Closes idle keep-alive connections, so a later count sees only new ones. */
  closeIdle(): void {
    this.server.closeIdleConnections();
  }

  /** Stops listening and drops every connection: clients then get ECONNREFUSED. */
  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Listens again on the same port. */
  async restart(): Promise<void> {
    await this.listen();
  }

  private listen(): Promise<void> {
    this.server = http.createServer((req, res) => this.handle(req, res));
    this.server.on("connection", (socket: Socket) => {
      this.sockets.add(socket);
      socket.on("close", () => this.sockets.delete(socket));
      // Node keeps a half-closed socket until a pending answer is written; the client is gone, so let it go now.
      socket.on("end", () => {
        this.sockets.delete(socket);
        socket.destroy();
      });
    });
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, "127.0.0.1", () => {
        this.port = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const raw = Buffer.concat(chunks).toString("utf8");
      const recorded: RecordedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, raw, json: parseJson(raw), at: Date.now() };
      this.requests.push(recorded);
      const answer = this.script.shift() ?? this.fallback;
      const reply = () => {
        if (res.destroyed) return;
        const body = answer.echo ? JSON.stringify({ error: "echo", request: recorded }) : answer.body ?? "ok";
        const text = typeof body === "string" ? body : JSON.stringify(body);
        const type = typeof body === "string" && !answer.echo ? "text/plain" : "application/json";
        // No keep-alive: a connection open after a delivery is one the client left behind.
        res.writeHead(answer.status ?? 200, { "content-type": type, connection: "close", ...answer.headers }).end(text);
      };
      if (!answer.delayMs) return reply();
      const timer = setTimeout(reply, answer.delayMs);
      res.on("close", () => clearTimeout(timer));
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// ─── SMTP ─────────────────────────────────────────────────────────────────

/** One message as the SMTP server got it, parsed just enough for assertions. */
export interface RecordedMail {
  envelope: { from: string; to: string[] };
  /** The user the client authenticated as, if it did. */
  user?: string;
  /** Whether the message came over TLS (implicit, or after STARTTLS). */
  secure: boolean;
  raw: string;
  /** Top-level headers by lower-case name, unfolded, encoded words decoded. */
  headers: Map<string, string>;
  subject: string;
  text: string;
  html: string;
}

/** The SMTP server's TLS: its key and certificate (PEM), and TLS from the first byte (`implicit`) or through STARTTLS. */
export interface SmtpTls {
  key: string;
  cert: string;
  /** @defaultValue false (STARTTLS) */
  implicit?: boolean;
}

/** What to do to the next message: refuse at a stage with an SMTP code, or stall there. */
export type SmtpScript = { at: "mail" | "rcpt" | "data"; code: number; message?: string } | { at: "mail" | "rcpt" | "data"; delayMs: number };

export class SmtpReceiver {
  readonly messages: RecordedMail[] = [];
  /** What the server reported going wrong with a client (a TLS handshake the client broke off, …). */
  readonly errors: Error[] = [];
  private readonly script: SmtpScript[] = [];
  private readonly scripts = new WeakMap<SMTPServerSession, SmtpScript | undefined>();
  /** Stalled replies still waiting; stop() ends them so nothing outlives the receiver. */
  private readonly stalls = new Set<NodeJS.Timeout>();
  private server!: SMTPServer;

  private constructor(
    public port: number,
    private readonly credentials?: { user: string; pass: string },
    private readonly tls?: SmtpTls,
  ) {}

  /**
   * Starts on a free loopback port; AUTH checked against `credentials` when
   * given, else optional. Without `tls`, plain text only (no STARTTLS); with
   * it, STARTTLS offered with that key and certificate, or TLS from the first
   * byte when `implicit`.
   */
  static async start(credentials?: { user: string; pass: string }, tls?: SmtpTls): Promise<SmtpReceiver> {
    const receiver = new SmtpReceiver(0, credentials, tls);
    await receiver.listen();
    return receiver;
  }

  /** Applies to the next message (one connection each: the email kind does not pool). */
  next(script: SmtpScript, times = 1): this {
    for (let i = 0; i < times; i++) this.script.push(script);
    return this;
  }

  openConnections(): number {
    return this.server.connections.size;
  }

  async stop(): Promise<void> {
    for (const timer of this.stalls) clearTimeout(timer);
    this.stalls.clear();
    for (const connection of this.server.connections) connection.close();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async restart(): Promise<void> {
    await this.listen();
  }

  private listen(): Promise<void> {
    const stage = (at: SmtpScript["at"], session: SMTPServerSession, callback: (err?: Error | null) => void) => {
      const script = this.scripts.get(session);
      if (!script || script.at !== at) return callback();
      if ("delayMs" in script) {
        const timer = setTimeout(() => {
          this.stalls.delete(timer);
          callback();
        }, script.delayMs);
        this.stalls.add(timer);
        return;
      }
      callback(Object.assign(new Error(script.message ?? `scripted ${script.code}`), { responseCode: script.code }));
    };
    this.server = new SMTPServer({
      logger: false,
      ...(this.tls ? { secure: this.tls.implicit ?? false, key: this.tls.key, cert: this.tls.cert } : { disabledCommands: ["STARTTLS"] }),
      authOptional: !this.credentials,
      allowInsecureAuth: true,
      closeTimeout: 200,
      onConnect: (session, callback) => {
        this.scripts.set(session, this.script.shift());
        callback();
      },
      onAuth: (auth, _session, callback) => {
        const ok = !this.credentials || (auth.username === this.credentials.user && auth.password === this.credentials.pass);
        if (!ok) return callback(Object.assign(new Error("Authentication credentials invalid"), { responseCode: 535 }));
        callback(null, { user: auth.username });
      },
      onMailFrom: (_address, session, callback) => stage("mail", session, callback),
      onRcptTo: (_address, session, callback) => stage("rcpt", session, callback),
      onData: (stream, session, callback) => {
        const chunks: Buffer[] = [];
        stream.on("data", (chunk: Buffer) => chunks.push(chunk));
        stream.on("end", () => {
          stage("data", session, (err) => {
            if (err) return callback(err);
            const raw = Buffer.concat(chunks).toString("utf8");
            const envelope = {
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
              to: session.envelope.rcptTo.map((r) => r.address),
            };
            this.messages.push({ envelope, ...(typeof session.user === "string" ? { user: session.user } : {}), secure: session.secure, raw, ...parseMail(raw) });
            callback();
          });
        });
      },
    });
    // Unhandled, a client's failed TLS handshake would throw out of the test process.
    this.server.on("error", (err: Error) => this.errors.push(err));
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(this.port, "127.0.0.1", () => {
        this.port = (this.server.server.address() as AddressInfo).port;
        resolve();
      });
    });
  }
}

/** Headers, subject and the text/plain and text/html parts of a MIME message (UTF-8, QP or base64). */
export function parseMail(raw: string): Pick<RecordedMail, "headers" | "subject" | "text" | "html"> {
  const top = parsePart(raw);
  const parts = flatten(top);
  const text = parts.find((p) => p.type.startsWith("text/plain"))?.body ?? "";
  const html = parts.find((p) => p.type.startsWith("text/html"))?.body ?? "";
  return { headers: top.headers, subject: top.headers.get("subject") ?? "", text, html };
}

interface MimePart {
  headers: Map<string, string>;
  type: string;
  body: string;
  children: MimePart[];
}

function parsePart(raw: string): MimePart {
  const split = raw.indexOf("\r\n\r\n");
  const head = split === -1 ? raw : raw.slice(0, split);
  const content = split === -1 ? "" : raw.slice(split + 4);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, " ").split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), decodeWords(line.slice(colon + 1).trim()));
  }
  const type = (headers.get("content-type") ?? "text/plain").toLowerCase();
  const boundary = /boundary="?([^";]+)"?/i.exec(headers.get("content-type") ?? "")?.[1];
  if (type.startsWith("multipart/") && boundary) {
    const children = content
      .split(`--${boundary}`)
      .slice(1)
      .filter((chunk) => !chunk.startsWith("--"))
      .map((chunk) => parsePart(chunk.replace(/^\r\n/, "").replace(/\r\n$/, "")));
    return { headers, type, body: "", children };
  }
  return { headers, type, body: decodeBody(content, headers.get("content-transfer-encoding") ?? "7bit"), children: [] };
}

function flatten(part: MimePart): MimePart[] {
  return part.children.length === 0 ? [part] : part.children.flatMap(flatten);
}

function decodeBody(content: string, encoding: string): string {
  switch (encoding.toLowerCase()) {
    case "base64":
      return Buffer.from(content.replace(/\s+/g, ""), "base64").toString("utf8");
    case "quoted-printable":
      return qpBytes(content.replace(/=\r\n/g, "")).toString("utf8");
    default:
      return content;
  }
}

/** RFC 2047 encoded words (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`); whitespace between adjacent words dropped. */
function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, "?==?").replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_all, _charset: string, enc: string, text: string) =>
    enc.toUpperCase() === "B" ? Buffer.from(text, "base64").toString("utf8") : qpBytes(text.replace(/_/g, " ")).toString("utf8"),
  );
}

function qpBytes(text: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const hex = text.slice(i + 1, i + 3);
    if (text[i] === "=" && /^[0-9A-Fa-f]{2}$/.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(text[i]!, "utf8"));
    }
  }
  return Buffer.from(bytes);
}

// ─── What the receivers are sent ──────────────────────────────────────────

/** An update body with everything a format must escape: markup, an ampersand, quotes, a would-be mention. */
export const TRICKY_BODY = `Chat messages are <b>not</b> delivered & "retries" pile up > 5s. Ping <!channel> @everyone`;

/**
 * One incident's three posts (opened, updated, resolved), as the pipeline
 * would send them. `id` makes incidents distinct; ids never contain ".".
 */
export function incidentStory(options: { id?: string; name?: string; impact?: Incident["impact"]; body?: string } = {}): Record<"opened" | "updated" | "resolved", IncidentEvent> {
  const id = options.id ?? "inc0chat0001";
  const impact = options.impact ?? "critical";
  const name = options.name ?? "Major outage of Chat";
  const page = { name: "Lumen Live Status", url: "https://status.lumen.example" };
  const at = (minute: number) => new Date(Date.UTC(2025, 5, 1, 14, minute)).toISOString();
  const update = (n: number, status: IncidentStatus, body: string): IncidentUpdate => ({
    id: `${id}u${n}`,
    status,
    body,
    created_at: at(n * 10),
    display_at: at(n * 10),
    affected_components: [{ code: "chat", name: "Chat", old_status: n === 2 ? "major_outage" : "operational", new_status: n === 2 ? "operational" : "major_outage" }],
    author: n === 1 ? { kind: "person", name: "Ana Lima" } : { kind: "automatic", name: "Pulseboard" },
  });
  const updates = [update(0, "investigating", options.body ?? TRICKY_BODY), update(1, "identified", "Cache node 3 drops publishes; failing over."), update(2, "resolved", "Publishes flow again; all clear.")];
  const incident = (n: number): Incident => ({
    id,
    name,
    status: updates[n]!.status,
    impact,
    automatic: true,
    created_at: at(0),
    updated_at: at(n * 10),
    started_at: at(0),
    monitoring_at: null,
    resolved_at: n === 2 ? at(20) : null,
    components: { chat: n === 2 ? "operational" : "major_outage" },
    updates: updates.slice(0, n + 1),
    postmortem: null,
    revision: n + 1,
  });
  const event = (n: number, type: IncidentEvent["type"]): IncidentEvent => ({
    id: `evt${id}${n}`,
    type,
    occurred_at: updates[n]!.created_at,
    page,
    incident: incident(n),
    update: updates[n]!,
    incident_url: `${page.url}/incidents/${id}`,
    urgency: impact === "critical" || impact === "major" ? "high" : "low",
  });
  return { opened: event(0, "incident.opened"), updated: event(1, "incident.updated"), resolved: event(2, "incident.resolved") };
}

/**
 * One maintenance window's four posts (reminder, started, completed,
 * cancelled), as the pipeline would send them; its message is TRICKY_BODY
 * unless `body` says otherwise.
 */
export function maintenanceStory(options: { id?: string; name?: string; body?: string } = {}): Record<"reminder" | "started" | "completed" | "cancelled", MaintenanceEvent> {
  const id = options.id ?? "mnt0chat0001";
  const page = { name: "Lumen Live Status", url: "https://status.lumen.example" };
  const window = { scheduled_for: "2025-06-01T14:00:00.000Z", scheduled_until: "2025-06-01T15:00:00.000Z" };
  const texts = {
    reminder: "Scheduled maintenance of Chat starts in 60 minutes (14:00 UTC) and lasts until 15:00 UTC.",
    started: "Scheduled maintenance of Chat has started and lasts until 15:00 UTC.",
    completed: "Scheduled maintenance of Chat is complete.",
    cancelled: "Scheduled maintenance of Chat, planned for 14:00 UTC, has been cancelled.",
  };
  const event = (kind: keyof typeof texts, at: string, state: MaintenanceEvent["maintenance"]["status"]): MaintenanceEvent => ({
    id: `evt${id}${kind}`,
    type: `maintenance.${kind}`,
    occurred_at: at,
    page,
    maintenance: { id, name: options.name ?? "Chat database upgrade", status: state, components: [{ id: "chat", name: "Chat" }], ...window },
    text: texts[kind],
    body: options.body ?? TRICKY_BODY,
    maintenance_url: `${page.url}/incidents/${id}`,
    urgency: "low",
  });
  return {
    reminder: event("reminder", "2025-06-01T13:00:00.000Z", "scheduled"),
    started: event("started", window.scheduled_for, "in_progress"),
    completed: event("completed", window.scheduled_until, "completed"),
    cancelled: event("cancelled", "2025-06-01T13:30:00.000Z", "completed"),
  };
}

// ─── Delivery context and captured logs ───────────────────────────────────

/** A pino logger at trace level writing to memory, to check what was logged. */
export function captureLog(): { log: Logger; text(): string } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(chunk.toString("utf8"));
      done();
    },
  });
  return { log: pino({ level: "trace" }, sink), text: () => lines.join("") };
}

/** A delivery context whose deadline passes after `deadlineMs` (0: already passed; default: not within a test). */
export function deliveryContext(log: Logger, deadlineMs = 30_000): NotifierContext & { done(): void } {
  const controller = new AbortController();
  if (deadlineMs <= 0) controller.abort();
  const timer = setTimeout(() => controller.abort(), deadlineMs);
  return { signal: controller.signal, log, done: () => clearTimeout(timer) };
}

/** Waits until nothing is connected to a receiver any more. */
export async function expectNoConnections(what: string, count: () => number | Promise<number>, timeoutMs = 5_000): Promise<void> {
  await waitFor(`${what} to have no open connections`, async () => (await count()) === 0, timeoutMs, 25);
}

/**
 * Sends `event` through a channel kind the way the pipeline will: `settings`
 * parsed by the kind's schema (as pulseboard.yaml would be), a deadline, a
 * logger. Returns the outcome and what was logged.
 */
export async function deliver(kind: NotifierKind, event: NotificationEvent, settings: Record<string, unknown>, deadlineMs?: number): Promise<{ outcome: DeliveryOutcome; logged: string }> {
  const notifier = notifiers[kind];
  const logs = captureLog();
  const ctx = deliveryContext(logs.log, deadlineMs);
  try {
    return { outcome: await notifier.send(event, notifier.configSchema.parse(settings), ctx), logged: logs.text() };
  } finally {
    ctx.done();
  }
}
