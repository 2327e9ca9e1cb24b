import net from "node:net";
import tls from "node:tls";
import WebSocket from "ws";
import type { GatewayNodeTarget } from "./gateway-admin.ts";
import { ProbeFailure, type ProbeContext } from "./types.ts";

/** A frame of the gateway protocol (docs/protocol.md), as a probe reads it. */
export interface GatewayFrame {
  type?: string;
  channel?: string;
  id?: string | number;
  data?: unknown;
  node?: string;
  serial?: string;
  recovered?: boolean;
  code?: string;
  message?: string;
  retry_after_ms?: number;
  /** When the frame arrived (performance.now()); set by the session, not sent by the gateway. */
  receivedAt?: number;
}

/** What ws hands to `createConnection`: TCP and TLS options, the request path, and a socket path for ws+unix URLs. */
type ConnectOptions = tls.ConnectionOptions & { host?: string; port?: number; path?: string; socketPath?: string };

/** Why the gateway turned a new connection away (`over_capacity`, then close 1013). */
export interface GatewayRefusal {
  /** The gateway's own words, e.g. "the node is at its connection limit; retry in 2345 ms". */
  message: string;
  retryAfterMs?: number;
}

/** What to call the target in messages and phase names. */
export interface SessionOptions {
  /** A name for the target, such as "node-1"; messages then say "node-1 (host:port)". */
  name?: string;
  /** Phase names are suffixed with this, e.g. "upgrade" → "upgrade to node-1". */
  label?: string;
  /** Headers of the upgrade request (a proxy's auth in front of the gateway). */
  headers?: Record<string, string>;
  /** TLS options for wss:// (a private CA, or none checked). */
  tls?: tls.ConnectionOptions;
}

/**
 * One probe connection to the gateway. Every event (TCP connect, upgrade,
 * frame, close, error, the run's deadline) wakes whatever is waiting, which
 * then re-checks; nothing waits on a timer of its own but `nextWithin`.
 * The socket is terminated at the deadline, so an abandoned run leaks nothing.
 */
export class GatewaySession {
  /** Set once the gateway refused this connection for capacity (or a locked safeguard). */
  refusal?: GatewayRefusal;
  private readonly ws: WebSocket;
  private readonly frames: GatewayFrame[] = [];
  private wakeups: (() => void)[] = [];
  private connected = false;
  private upgraded = false;
  failure?: Error;
  private readonly onAbort = (): void =>
    this.wake(() => {
      this.failure ??= new ProbeFailure("aborted at the deadline");
      this.terminate();
    });

  /** Starts connecting at once; wait for it with `handshake()` (or `GatewaySession.open`). */
  constructor(
    readonly url: string,
    private readonly signal: AbortSignal,
    private readonly options: SessionOptions = {},
  ) {
    const secure = url.startsWith("wss:");
    this.ws = new WebSocket(url, {
      perMessageDeflate: false,
      ...(options.headers ? { headers: options.headers } : {}),
      ...(secure && options.tls ? options.tls : {}),
      // Our own socket, to time TCP (and TLS) apart from the upgrade; made the way ws makes it.
      createConnection: (opts: ConnectOptions) => {
        const socket = secure
          ? tls.connect({ ...opts, path: undefined, servername: opts.servername ?? (net.isIP(opts.host ?? "") ? "" : opts.host) })
          : net.connect({ ...opts, path: opts.socketPath } as net.NetConnectOpts);
        socket.once(secure ? "secureConnect" : "connect", () => this.wake(() => (this.connected = true)));
        return socket;
      },
    } as WebSocket.ClientOptions);
    this.ws.on("open", () => this.wake(() => (this.upgraded = true)));
    this.ws.on("message", (raw) => this.wake(() => this.push(raw.toString())));
    this.ws.on("close", (code, reason) => this.wake(() => this.onClose(code, reason.toString())));
    this.ws.on("error", (err) => this.wake(() => (this.failure ??= explainSocketError(err, this.where))));
    if (signal.aborted) this.onAbort();
    else signal.addEventListener("abort", this.onAbort, { once: true });
  }

  /**
   * Opens a session the way a browser would, timing each step as a phase of
   * the run: `connect` (TCP, and TLS for wss), `upgrade` (HTTP 101) and
   * `welcome` (the first frame). Resolves with the session and its welcome.
   */
  static async open(url: string, ctx: ProbeContext, options: SessionOptions = {}): Promise<{ session: GatewaySession; welcome: GatewayFrame }> {
    const session = new GatewaySession(url, ctx.signal, options);
    try {
      const welcome = await session.handshake((name, work) => ctx.phase(session.phaseName(name), work));
      return { session, welcome };
    } catch (err) {
      session.close();
      throw err;
    }
  }

  /** The target as messages name it: "node-1 (127.0.0.1:4002)" or "127.0.0.1:4000". */
  get where(): string {
    const host = new URL(this.url).host;
    return this.options.name ? `${this.options.name} (${host})` : host;
  }

  /** `name` with this session's label, for phases of a run that talks to several targets. */
  phaseName(name: string): string {
    return this.options.label ? `${name} ${this.options.label}` : name;
  }

  /** Connect, upgrade and welcome, each through `phase` (a run's `ctx.phase`, or a plain call). */
  async handshake(phase: <T>(name: string, work: () => Promise<T>) => Promise<T> = (_, work) => work()): Promise<GatewayFrame> {
    await phase("connect", () => this.until(() => this.connected || undefined));
    await phase("upgrade", () => this.until(() => this.upgraded || undefined));
    return phase("welcome", () => this.next((f) => f.type === "welcome"));
  }

  send(frame: Record<string, unknown>): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
  }

  /**
   * Sends a request with an `id` and resolves with its answer (the first
   * frame with that id); an `error` frame for it fails with the gateway's words.
   */
  async request(frame: Record<string, unknown> & { id: string }, answer: (f: GatewayFrame) => boolean = () => true): Promise<GatewayFrame> {
    this.send(frame);
    return this.next((f) => f.id === frame.id && (f.type === "error" || answer(f)));
  }

  /** Resolves with (and removes) the first queued or coming frame that matches; an `error` frame fails. */
  async next(match: (frame: GatewayFrame) => boolean): Promise<GatewayFrame> {
    const frame = await this.until(() => this.take(match));
    if (frame.type === "error") throw new ProbeFailure(`${this.where} answered ${frame.code}: ${frame.message}`);
    return frame;
  }

  /** Like `next`, but resolves undefined if nothing matches within `ms`. */
  async nextWithin(match: (frame: GatewayFrame) => boolean, ms: number): Promise<GatewayFrame | undefined> {
    let expired = false;
    const timer = setTimeout(() => this.wake(() => (expired = true)), ms);
    try {
      const frame = await this.until(() => this.take(match) ?? (expired ? null : undefined));
      if (frame?.type === "error") throw new ProbeFailure(`${this.where} answered ${frame.code}: ${frame.message}`);
      return frame ?? undefined;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * Publishes `data(seq)` for each `seq` of `seqs` back to back, then collects
   * their acks in order; the serials the gateway gave them, and when each
   * was sent. Fails, naming the publish, when an ack does not come within
   * `ms` of the start.
   */
  async publishBatch(channel: string, seqs: number[], data: (seq: number) => unknown, ms: number): Promise<{ serials: string[]; sentAt: number[] }> {
    const sentAt: number[] = [];
    for (const seq of seqs) {
      sentAt.push(performance.now());
      this.send({ type: "publish", channel, data: data(seq), id: `p${seq}` });
    }
    const serials: string[] = [];
    const deadline = performance.now() + ms;
    for (const [i, seq] of seqs.entries()) {
      const ack = await this.nextWithin((f) => f.id === `p${seq}` && (f.type === "ack" || f.type === "error"), Math.max(0, deadline - performance.now()));
      if (!ack) throw new ProbeFailure(`${this.where} did not acknowledge publish ${i + 1} of ${seqs.length}: the gateway accepted the frame but never stored the message`);
      serials.push(ack.serial ?? "?");
    }
    return { serials, sentAt };
  }

  /** Every queued frame that matches, removed from the queue. */
  takeAll(match: (frame: GatewayFrame) => boolean): GatewayFrame[] {
    const taken = this.frames.filter(match);
    for (const frame of taken) this.frames.splice(this.frames.indexOf(frame), 1);
    return taken;
  }

  /** Drops the connection at once (no close handshake: a probe never waits to say goodbye). */
  close(): void {
    this.signal.removeEventListener("abort", this.onAbort);
    this.terminate();
  }

  private terminate(): void {
    this.ws.removeAllListeners();
    this.ws.on("error", () => {});
    this.ws.terminate();
  }

  private take(match: (frame: GatewayFrame) => boolean): GatewayFrame | undefined {
    const index = this.frames.findIndex(match);
    return index >= 0 ? this.frames.splice(index, 1)[0] : undefined;
  }

  private push(text: string): void {
    let frame: GatewayFrame;
    try {
      frame = JSON.parse(text) as GatewayFrame;
    } catch {
      this.failure ??= new ProbeFailure(`${this.where} sent a frame that is not JSON: ${text.slice(0, 80)}`);
      return;
    }
    frame.receivedAt = performance.now();
    if (isRefusal(frame)) {
      this.refusal = { message: frame.message ?? "over capacity", retryAfterMs: frame.retry_after_ms };
      this.failure ??= refusedFailure(this.where, this.refusal);
    }
    this.frames.push(frame);
  }

  private onClose(code: number, reason: string): void {
    if (code === 1013 && !this.refusal && !/slow consumer/i.test(reason)) {
      const hint = /retry after (\d+) ms/.exec(reason);
      this.refusal = { message: reason || "try again later", retryAfterMs: hint ? Number(hint[1]) : undefined };
    }
    this.failure ??= this.refusal ? refusedFailure(this.where, this.refusal, { code, reason }) : closedFailure(this.where, code, reason);
  }

  private wake(change?: () => unknown): void {
    change?.();
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const wakeup of wakeups) wakeup();
  }

  /** Waits until `check` gives a value; a failure of the connection, or the deadline, throws. */
  private async until<T>(check: () => T | undefined): Promise<T> {
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (this.failure) throw this.failure;
      if (this.signal.aborted) throw new ProbeFailure("aborted at the deadline");
      await new Promise<void>((resolve) => this.wakeups.push(resolve));
    }
  }
}

function isRefusal(frame: GatewayFrame): boolean {
  return frame.type === "error" && frame.code === "over_capacity";
}

/** The gateway turned the connection away; the message quotes its retry hint. */
function refusedFailure(where: string, refusal: GatewayRefusal, close?: { code: number; reason: string }): ProbeFailure {
  const closeText = close ? ` (close ${close.code}${close.reason ? ` "${close.reason}"` : ""})` : "";
  const hint = refusal.retryAfterMs !== undefined ? `; it tells clients to retry after ${refusal.retryAfterMs} ms` : "";
  return new ProbeFailure(`${where} refused the connection: over capacity, "${refusal.message}"${closeText}${hint}`);
}

function closedFailure(where: string, code: number, reason: string): ProbeFailure {
  const why: Record<number, string> = {
    1001: "the node is shutting down",
    1006: "the connection dropped without a close frame",
    1008: "the gateway closed it for too many invalid frames",
    1012: "the node is restarting and drained its clients",
    1013: "the gateway asks the client to try again later",
  };
  const text = reason ? ` "${reason}"` : "";
  return new ProbeFailure(`${where} closed the connection (${code}${text})${why[code] ? `: ${why[code]}` : ""}`);
}

/** Socket errors in words a person can act on, naming the target. */
export function explainSocketError(err: Error, where: string): ProbeFailure {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case "ECONNREFUSED":
      return new ProbeFailure(`connection refused by ${where}: nothing is listening, or it refuses new clients`);
    case "ECONNRESET":
      return new ProbeFailure(`connection reset by ${where}`);
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return new ProbeFailure(`cannot resolve the host of ${where}`);
    default: {
      const status = /Unexpected server response: (\d+)/.exec(err.message);
      if (status) return new ProbeFailure(`${where} refused the WebSocket upgrade (HTTP ${status[1]})`);
      return new ProbeFailure(`${where}: ${err.message}`);
    }
  }
}

/** The sessions a run opens on fleet nodes (each named and labelled by its node), closed together when it ends. */
export class NodeSessions {
  private readonly sessions: GatewaySession[] = [];

  constructor(private readonly ctx: ProbeContext) {}

  async open(node: GatewayNodeTarget): Promise<GatewaySession> {
    const { session } = await GatewaySession.open(node.url, this.ctx, { name: node.id, label: node.id });
    this.sessions.push(session);
    return session;
  }

  closeAll(): void {
    for (const session of this.sessions) session.close();
  }
}
