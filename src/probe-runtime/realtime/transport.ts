import net from "node:net";
import tls from "node:tls";
import WebSocket from "ws";
import { checkEgressUrl, egressLookup } from "../../core/index.ts";
import { explainSocketError } from "../gateway-session.ts";
import { ProbeFailure } from "../types.ts";
import type { ConnectionSettings } from "./connection.ts";
import type { PhaseRunner } from "./types.ts";

/**
 * The wire under every adapter: a TCP (or TLS) socket, or a WebSocket on
 * one, opened with the probe's headers, auth, subprotocol and TLS options,
 * and timed as the phases `connect` (TCP, and TLS) and `upgrade` (HTTP 101).
 * Both end with the signal, so an abandoned run leaks no socket.
 */

/** The target as messages name it: "node-1 (127.0.0.1:4002)" or "127.0.0.1:1883". */
export function describeTarget(url: string, name?: string): string {
  let host: string;
  try {
    host = new URL(url).host;
  } catch {
    host = url;
  }
  return name ? `${name} (${host})` : host;
}

/** `name` with a label for runs that talk to several targets: "connect" → "connect node-1". */
export function phaseName(name: string, label?: string): string {
  return label ? `${name} ${label}` : name;
}

/** TLS options from the probe's `tls:` settings. */
export function tlsOptions(settings: Pick<ConnectionSettings, "tls">): tls.ConnectionOptions {
  return { ...(settings.tls?.ca ? { ca: [...tls.rootCertificates, settings.tls.ca] } : {}), rejectUnauthorized: !settings.tls?.insecure };
}

/** The headers of a WebSocket upgrade: the probe's own, plus `auth` as Bearer or Basic when set that way. */
export function upgradeHeaders(settings: Pick<ConnectionSettings, "headers" | "auth">): Record<string, string> {
  const headers: Record<string, string> = { ...settings.headers };
  const auth = settings.auth;
  if (auth && "bearer" in auth) headers.authorization = `Bearer ${auth.bearer}`;
  else if (auth && "username" in auth) headers.authorization = `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`;
  return headers;
}

export interface WireOptions {
  url: string;
  /** The target as messages name it (describeTarget). */
  where: string;
  settings: ConnectionSettings;
  signal: AbortSignal;
  phase: PhaseRunner;
  /** Phase label ("node-1"). */
  label?: string;
  /** Subprotocols to offer when `settings.subprotocol` is unset (["mqtt"] for MQTT). */
  defaultSubprotocols?: string[];
  /**
   * Called with the WebSocket the moment it opens, before anything the server
   * sent with its 101 is emitted: for protocols whose server speaks first
   * (NATS's INFO), whose first message would otherwise be missed.
   */
  onOpen?: (ws: WebSocket) => void;
}

/** What ws hands to `createConnection`: TCP and TLS options, the request path, and a socket path for ws+unix URLs. */
type WsConnectOptions = tls.ConnectionOptions & { host?: string; port?: number; path?: string; socketPath?: string };

/**
 * Opens a WebSocket, timing `connect` (TCP, and TLS for wss) apart from
 * `upgrade` (HTTP 101). Resolves with the open socket; fails naming the
 * target and what went wrong (refused, reset, HTTP 401 on the upgrade, the
 * deadline in the phase it was stuck in).
 */
export async function openWebSocket(options: WireOptions): Promise<WebSocket> {
  const { url, where, settings, signal } = options;
  checkUrl(url);
  const secure = url.startsWith("wss:");
  const protocols = settings.subprotocol ? [settings.subprotocol] : (options.defaultSubprotocols ?? []);
  const wire = new Wire(signal, where);
  const ws = new WebSocket(url, protocols, {
    perMessageDeflate: false,
    headers: upgradeHeaders(settings),
    handshakeTimeout: undefined,
    ...(secure ? tlsOptions(settings) : {}),
    // Our own socket, to time TCP (and TLS) apart from the upgrade; made the way ws makes it.
    createConnection: (opts: WsConnectOptions) => {
      const socket = secure
        ? tls.connect({ ...opts, path: undefined, lookup: egressLookup, servername: opts.servername ?? (net.isIP(opts.host ?? "") ? "" : opts.host) })
        : net.connect({ ...opts, path: opts.socketPath, lookup: egressLookup } as net.NetConnectOpts);
      socket.once(secure ? "secureConnect" : "connect", () => wire.mark("connected"));
      return socket;
    },
  } as WebSocket.ClientOptions);
  wire.onAbort(() => terminate(ws));
  ws.once("open", () => {
    options.onOpen?.(ws);
    wire.mark("open");
  });
  ws.on("error", (err) => wire.fail(explainSocketError(err, where)));
  ws.once("close", (code, reason) => wire.fail(new ProbeFailure(`${where} closed the connection during the upgrade (${code}${reason.length ? ` "${reason.toString()}"` : ""})`)));
  try {
    await options.phase(phaseName("connect", options.label), () => wire.until("connected"));
    await options.phase(phaseName("upgrade", options.label), () => wire.until("open"));
  } catch (err) {
    terminate(ws);
    throw err;
  } finally {
    wire.detach();
  }
  ws.removeAllListeners("close");
  ws.removeAllListeners("error");
  ws.on("error", () => {});
  return ws;
}

/**
 * Opens a TCP socket, or a TLS one when `secure`, timed as `connect`
 * (TCP and TLS together). Resolves with the connected socket.
 */
export async function openSocket(options: WireOptions & { host: string; port: number; secure: boolean }): Promise<net.Socket> {
  const { where, signal } = options;
  checkUrl(options.url);
  const wire = new Wire(signal, where);
  const socket = options.secure
    ? tls.connect({ host: options.host, port: options.port, lookup: egressLookup, servername: net.isIP(options.host) ? "" : options.host, ...tlsOptions(options.settings) })
    : net.connect({ host: options.host, port: options.port, lookup: egressLookup });
  wire.onAbort(() => socket.destroy());
  socket.once(options.secure ? "secureConnect" : "connect", () => wire.mark("connected"));
  socket.on("error", (err) => wire.fail(explainSocketError(err, where)));
  socket.once("close", () => wire.fail(new ProbeFailure(`${where} closed the connection before it was set up`)));
  try {
    await options.phase(phaseName("connect", options.label), () => wire.until("connected"));
  } catch (err) {
    socket.destroy();
    throw err;
  } finally {
    wire.detach();
  }
  socket.removeAllListeners("close");
  socket.removeAllListeners("error");
  socket.on("error", () => {});
  return socket;
}

/** Drops a WebSocket at once (no close handshake: a probe never waits to say goodbye). */
export function terminate(ws: WebSocket): void {
  ws.removeAllListeners();
  ws.on("error", () => {});
  ws.terminate();
}

/** Refuses a target the egress policy forbids (cloud metadata, link-local) before any packet goes out. */
function checkUrl(url: string): void {
  try {
    checkEgressUrl(new URL(url));
  } catch (err) {
    throw new ProbeFailure((err as Error).message);
  }
}

/** Marks reached while a connection is being set up, and the first failure; waiters re-check on every change. */
class Wire {
  private readonly reached = new Set<string>();
  private failure?: Error;
  private wakeups: (() => void)[] = [];
  private abortHandler?: () => void;

  constructor(
    private readonly signal: AbortSignal,
    private readonly where: string,
  ) {}

  onAbort(handler: () => void): void {
    this.abortHandler = () => {
      handler();
      this.fail(new ProbeFailure(`aborted at the deadline while connecting to ${this.where}`));
    };
    if (this.signal.aborted) this.abortHandler();
    else this.signal.addEventListener("abort", this.abortHandler, { once: true });
  }

  detach(): void {
    if (this.abortHandler) this.signal.removeEventListener("abort", this.abortHandler);
  }

  mark(name: string): void {
    this.reached.add(name);
    this.wake();
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.wake();
  }

  async until(name: string): Promise<void> {
    for (;;) {
      if (this.reached.has(name)) return;
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => this.wakeups.push(resolve));
    }
  }

  private wake(): void {
    const wakeups = this.wakeups;
    this.wakeups = [];
    for (const wakeup of wakeups) wakeup();
  }
}
