import { randomBytes } from "node:crypto";
import { isDeepStrictEqual } from "node:util";
import WebSocket from "ws";
import { z } from "zod";
import { durationSchema } from "../../config/index.ts";
import { explainSocketError } from "../gateway-session.ts";
import { ProbeFailure } from "../types.ts";
import { ClientBase } from "./client-base.ts";
import { describeTarget, openWebSocket, phaseName, terminate } from "./transport.ts";
import { defineAdapter, type PhaseRunner, type Position, type RealtimeClient, type RealtimeMessage } from "./types.ts";

/**
 * A team's own WebSocket server, whose application protocol we do not
 * know: the probe connects, sends what it is told to, and expects an answer
 * that matches. Phases `connect` and `upgrade` only (no handshake of its own);
 * the upgrade phase ends `refusal_window` after the HTTP 101, or at the
 * server's first message, so a server that upgrades and closes at once (a
 * full one, with 1013) fails it as a refusal instead of passing.
 *
 * The channel-based RealtimeClient maps onto it like this:
 * - `subscribe(channel)` sends nothing and resolves at once: the channel is
 *   only a name for a queue of the run's, and comes to be at its first
 *   `subscribe`, `next` or `takeAll`. Each channel gets every message of the
 *   connection from its start (the last {@link HISTORY_LIMIT} before it came
 *   to be, then every one), so a server that speaks first is heard.
 * - `publish(channel, payload)` sends the configured `send` with a fresh
 *   nonce, else the payload (as is when a string, else as JSON text); with
 *   an `expect` and no `send` it sends nothing: the server speaks first.
 * - every text message is delivered to every subscribed channel, its payload
 *   parsed JSON or the text; a binary frame is delivered as its UTF-8 text.
 * - which message answers what was sent: {@link PlainWebSocketClient.matches}
 *   (and `connectOnly`, for kinds that only connect).
 * - no `flush`: the protocol is unknown, so there is no round trip to ask for.
 * A close after the upgrade fails the connection naming the code and its
 * meaning; close 1013 (try again later) is a refusal, `full`, with the
 * retry hint of its reason ("retry after 2000 ms", "retry in 2 s").
 */

const NONCE = "{{nonce}}";

/** At most this many messages are kept for channels subscribed later. */
export const HISTORY_LIMIT = 1_000;

// Not z.json(): its recursive schema caches a cycle, and a probe's settings (this adapter included) are walked for secrets.
const messageSetting = z.custom<string | Record<string, unknown> | unknown[]>((value) => (typeof value === "string" ? value.length > 0 : typeof value === "object" && value !== null && isJson(value)), {
  error: "expected a string, or a JSON object or array",
});

/** The `websocket:` block of a probe's `with:`. */
export const websocketSettings = z
  .strictObject({
    /**
     * What to send once connected: a string goes as a text frame, an object
     * or array as JSON text. `{{nonce}}` anywhere in it (in any string value
     * of the JSON) becomes a fresh random nonce on every send, so an answer
     * can be told apart from an old one.
     * @defaultValue nothing: the server is expected to speak first, or the probe only connects
     */
    send: messageSetting.optional(),
    /**
     * What the answer must be. A string is a regular expression the answer's
     * text must match (no flags); an object or array must be contained in the
     * answer parsed as JSON (every key with an equal value, deeply; arrays
     * element by element, the answer's may be longer). `{{nonce}}` becomes
     * the nonce of the last send. Any message counts, whether it came before
     * or after the send.
     * @defaultValue with `send`, the answer must equal what was sent (an echo)
     */
    expect: messageSetting.optional(),
    /**
     * Only connect: the probe passes once the upgrade is done (and its
     * `refusal_window` passed without a close).
     * @defaultValue false, and true when neither `send` nor `expect` is given
     */
    connect_only: z.boolean().default(false),
    /**
     * How long the upgrade phase waits after the HTTP 101 for a server that
     * closes at once (a full server upgrades and closes with 1013): a close
     * in that time fails the upgrade, as the server's refusal. Ends early at
     * the server's first message.
     * @defaultValue "10ms"
     */
    refusal_window: durationSchema("10ms").default(10),
  })
  .superRefine((value, ctx) => {
    if (value.connect_only && (value.send !== undefined || value.expect !== undefined)) {
      const given = [value.send !== undefined && "send", value.expect !== undefined && "expect"].filter(Boolean).join(" and ");
      ctx.addIssue({ code: "custom", path: ["connect_only"], message: `connect_only: true only connects, so ${given} would never be used: remove ${given}, or connect_only` });
    }
    if (typeof value.expect === "string") {
      try {
        new RegExp(withNonce(value.expect, "0123456789abcdef"));
      } catch (err) {
        ctx.addIssue({ code: "custom", path: ["expect"], message: `expect is not a valid regular expression (${(err as Error).message}); to match JSON, give an object or array` });
      }
    }
    if (value.expect !== undefined && hasNonce(value.expect) && (value.send === undefined || !hasNonce(value.send))) {
      const why = value.send === undefined ? "nothing is sent" : "send does not contain it";
      ctx.addIssue({ code: "custom", path: ["expect"], message: `expect uses ${NONCE}, but ${why}: put ${NONCE} in send, for the server to answer with it` });
    }
  })
  .transform((value) => ({ ...value, connect_only: value.connect_only || (value.send === undefined && value.expect === undefined) }));

/** The `websocket:` block as the adapter gets it (`connect_only` true when nothing is sent or expected). */
export type WebSocketSettings = z.output<typeof websocketSettings>;

/** A plain WebSocket: connect, send, expect an answer. */
export default defineAdapter({
  protocol: "websocket",
  description: "a plain WebSocket server: connect, send a message, expect a matching answer",
  schemes: ["ws", "wss"],
  capabilities: { channels: false, resume: false },
  settingsSchema: websocketSettings,
  async connect(options) {
    const where = describeTarget(options.url, options.name);
    let client: PlainWebSocketClient | undefined;
    const upgrade = phaseName("upgrade", options.label);
    const phase: PhaseRunner = (name, work) =>
      options.phase(name, name !== upgrade ? work : async () => {
        const open = await work();
        await client!.settle(options.protocolSettings.refusal_window);
        return open;
      });
    try {
      await openWebSocket({
        url: options.url,
        where,
        settings: options.settings,
        signal: options.signal,
        phase,
        label: options.label,
        // Listening from the upgrade on: a greeting that came with the 101 is emitted before openWebSocket returns.
        onOpen: (ws) => (client = new PlainWebSocketClient(ws, where, options.signal, options.protocolSettings)),
      });
    } catch (err) {
      client?.close();
      throw err;
    }
    client!.watchClose();
    return client!;
  },
});

/** What the client last sent, and the nonce in it. */
interface Sent {
  text: string;
  /** What was sent, parsed, when it went as JSON. */
  json?: unknown;
  nonce: string;
}

/** One connection to a plain WebSocket server. */
export class PlainWebSocketClient extends ClientBase implements RealtimeClient {
  readonly info: Record<string, unknown>;
  private readonly channels = new Set<string>();
  private readonly history: string[] = [];
  private last?: Sent;
  private pattern?: { nonce: string; regex: RegExp };

  constructor(
    private readonly ws: WebSocket,
    where: string,
    signal: AbortSignal,
    private readonly settings: WebSocketSettings,
  ) {
    super(where, signal);
    this.info = ws.protocol ? { subprotocol: ws.protocol } : {};
    ws.on("message", (data) => this.receive(asText(data)));
  }

  /**
   * Waits up to `ms` after the upgrade for a server that closes at once,
   * unless it speaks first; throws its refusal (close 1013) or its close.
   * A close frame that came in that time is waited out to its code.
   */
  async settle(ms: number): Promise<void> {
    // openWebSocket drops this listener after its phases; watchClose then listens for good.
    this.ws.once("close", (code, reason) => this.closed(code, reason.toString()));
    const spoke = await this.until(() => (this.history.length > 0 ? true : undefined), ms);
    if (!spoke && this.ws.readyState !== WebSocket.OPEN) await this.until(() => undefined);
  }

  /** Listens for the close and errors, once openWebSocket has removed its own listeners. */
  watchClose(): void {
    this.ws.on("error", (err) => this.fail(explainSocketError(err, this.where)));
    this.ws.once("close", (code, reason) => this.closed(code, reason.toString()));
  }

  /** What was sent last, as it went over the wire; undefined before the first publish. */
  get sent(): string | undefined {
    return this.last?.text;
  }

  /**
   * The answer awaited, for a failure's message: `text matching /^pong …$/`,
   * `JSON containing {"type":"ack",…}`, `an echo of "ping …"`.
   */
  get expected(): string {
    const expect = this.settings.expect;
    if (typeof expect === "string") return `text matching /${withNonce(expect, this.last?.nonce ?? NONCE)}/`;
    if (expect !== undefined) return `JSON containing ${JSON.stringify(withNonce(expect, this.last?.nonce ?? NONCE))}`;
    return this.last ? `an echo of ${JSON.stringify(clip(this.last.text))}` : "nothing (nothing was sent)";
  }

  /** True when the probe only connects (`connect_only`, or neither `send` nor `expect` given). */
  get connectOnly(): boolean {
    return this.settings.connect_only;
  }

  /**
   * Whether `message` answers what was sent last: it matches `expect` (the
   * last send's nonce filled in), or, without `expect`, equals what was sent
   * (as JSON when it went as JSON, else as text). False before anything was
   * sent, unless `expect` needs no nonce (a server that speaks first).
   */
  matches(message: RealtimeMessage): boolean {
    const expect = this.settings.expect;
    if (expect === undefined) {
      if (!this.last) return false;
      return this.last.json !== undefined ? isDeepStrictEqual(message.payload, this.last.json) : message.text === this.last.text;
    }
    if (hasNonce(expect) && !this.last) return false;
    const nonce = this.last?.nonce ?? "";
    if (typeof expect !== "string") return contains(message.payload, withNonce(expect, nonce));
    if (this.pattern?.nonce !== nonce) this.pattern = { nonce, regex: new RegExp(withNonce(expect, nonce)) };
    return this.pattern.regex.test(message.text);
  }

  /** Names a queue: every message of the connection goes to it, from the start. */
  async subscribe(channel: string): Promise<Position> {
    if (this.failure) throw this.failure;
    this.queue(channel);
    return {};
  }

  override next(channel: string, match: (message: RealtimeMessage) => boolean, ms: number): Promise<RealtimeMessage | undefined> {
    this.queue(channel);
    return super.next(channel, match, ms);
  }

  override takeAll(channel: string): RealtimeMessage[] {
    this.queue(channel);
    return super.takeAll(channel);
  }

  /** Sends `send` with a fresh nonce, or else `payload` (nothing when only `expect` is set); resolves once it is written to the socket. */
  async publish(_channel: string, payload: unknown): Promise<Position> {
    if (this.failure) throw this.failure;
    if (this.settings.send === undefined && this.settings.expect !== undefined) return {};
    const nonce = randomBytes(8).toString("hex");
    const message = this.settings.send !== undefined ? withNonce(this.settings.send, nonce) : payload;
    const text = typeof message === "string" ? message : JSON.stringify(message ?? null);
    this.last = { text, json: typeof message === "string" ? undefined : JSON.parse(text), nonce };
    let written = false;
    this.ws.send(text, (err) => {
      if (err) this.fail(new ProbeFailure(`could not send to ${this.where}: ${err.message}`));
      else written = true;
      this.wake();
    });
    await this.until(() => written || undefined);
    return {};
  }

  close(): void {
    this.detach();
    this.fail(new ProbeFailure(`the connection to ${this.where} was closed by the probe`));
    terminate(this.ws);
  }

  /** A channel's queue, filled with the connection's messages so far when it is new. */
  private queue(channel: string): void {
    if (this.channels.has(channel)) return;
    this.channels.add(channel);
    for (const text of this.history) this.deliver(channel, text);
  }

  private receive(text: string): void {
    this.history.push(text);
    if (this.history.length > HISTORY_LIMIT) this.history.shift();
    for (const channel of this.channels) this.deliver(channel, text);
  }

  private closed(code: number, reason: string): void {
    const quoted = `close ${code}${reason ? ` "${reason}"` : ""}`;
    const meaning = CLOSE_MEANINGS[code] ?? (code >= 4000 && code <= 4999 ? "the application's own code" : "a code without a standard meaning");
    if (code === 1013) {
      const retryAfterMs = retryHint(reason);
      const hint = retryAfterMs === undefined ? "" : `; it tells clients to retry after ${retryAfterMs} ms`;
      this.refuse({ message: quoted, full: true, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) }, `${this.where} refused the connection: ${quoted} (${meaning})${hint}`);
    } else {
      this.fail(new ProbeFailure(`${this.where} closed the connection: ${quoted} (${meaning})`));
    }
  }
}

/** What each standard close code means (RFC 6455 §7.4.1, and the IANA registry). */
const CLOSE_MEANINGS: Record<number, string> = {
  1000: "normal closure",
  1001: "going away: the server is shutting down",
  1002: "protocol error",
  1003: "unsupported data",
  1005: "no status code given",
  1006: "dropped without a close frame",
  1007: "invalid payload data",
  1008: "policy violation",
  1009: "message too big",
  1010: "an extension the client needs is missing",
  1011: "internal server error",
  1012: "service restart",
  1013: "try again later",
  1014: "bad gateway",
  1015: "TLS handshake failed",
};

/** The retry hint in a close reason ("retry after 2000 ms", "retry in 2 s"), in ms; undefined without a unit. */
export function retryHint(reason: string): number | undefined {
  const hint = /retry(?:[ -]after|[ -]in)?:?\s*(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|secs?|seconds?)\b/i.exec(reason);
  if (!hint) return undefined;
  return Math.round(Number(hint[1]) * (hint[2]!.toLowerCase().startsWith("m") ? 1 : 1_000));
}

/** `message` with every `{{nonce}}` in it (in every string value, for JSON) replaced by `nonce`. */
function withNonce<T>(message: T, nonce: string): T {
  if (typeof message === "string") return message.replaceAll(NONCE, nonce) as T;
  if (Array.isArray(message)) return message.map((item) => withNonce(item, nonce)) as T;
  if (message && typeof message === "object") return Object.fromEntries(Object.entries(message).map(([key, value]) => [key, withNonce(value, nonce)])) as T;
  return message;
}

/** True for what JSON can carry: strings, finite numbers, booleans, null, arrays and plain objects of them. */
function isJson(value: unknown): boolean {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJson);
  if (typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) return Object.values(value).every(isJson);
  return false;
}

function hasNonce(message: unknown): boolean {
  if (typeof message === "string") return message.includes(NONCE);
  if (message && typeof message === "object") return Object.values(message).some(hasNonce);
  return false;
}

/** Whether `actual` contains `expected`: every key with an equal value, deeply; arrays element by element. */
function contains(actual: unknown, expected: unknown): boolean {
  if (Array.isArray(expected)) return Array.isArray(actual) && expected.every((item, i) => i < actual.length && contains(actual[i], item));
  if (expected && typeof expected === "object") {
    if (!actual || typeof actual !== "object" || Array.isArray(actual)) return false;
    return Object.entries(expected).every(([key, value]) => Object.hasOwn(actual, key) && contains((actual as Record<string, unknown>)[key], value));
  }
  return actual === expected;
}

/** A frame's text: binary frames too, read as UTF-8. */
function asText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString("utf8");
  return (Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data)).toString("utf8");
}

function clip(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
