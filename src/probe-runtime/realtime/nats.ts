import { readFileSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import tls from "node:tls";
import type WebSocket from "ws";
import { z } from "zod";
import { PACKAGE_ROOT } from "../../core/index.ts";
import { explainSocketError } from "../gateway-session.ts";
import { ProbeFailure } from "../types.ts";
import { ClientBase } from "./client-base.ts";
import { varzLoad } from "./nats-monitor.ts";
import { encodeConnect, encodePub, encodeSub, NatsParser, PING, PONG, subjectProblem, type NatsFrame, type NatsInfo } from "./nats-wire.ts";
import { describeTarget, openSocket, openWebSocket, phaseName, terminate, tlsOptions, type WireOptions } from "./transport.ts";
import { defineAdapter, untimed, type ConnectOptions, type Position, type RealtimeClient } from "./types.ts";

/** The `nats:` block of a probe's `with:`. */
export const natsSettings = z.strictObject({
  /** The connection name the server shows for the probe's clients (in /connz). @defaultValue "pulseboard-probe" */
  name: z.string().min(1).default("pulseboard-probe"),
  /** The server's HTTP monitoring port (http: in its config), read for load: /varz's connections and max_connections. @defaultValue none: load is not known */
  monitor_url: z.url({ protocol: /^https?$/, error: "expected the monitoring port's URL, like http://nats.example.com:8222" }).optional(),
  /**
   * For tls:// on a server set to `handshake_first` (nats-server 2.10.4+):
   * TLS starts before INFO. Otherwise the server's INFO comes in plain text
   * and TLS follows it. @defaultValue false
   */
  tls_first: z.boolean().default(false),
});

/** The `nats:` block, defaults applied. */
export type NatsSettings = z.output<typeof natsSettings>;

const VERSION = (JSON.parse(readFileSync(path.join(PACKAGE_ROOT, "package.json"), "utf8")) as { version: string }).version;
const DEFAULT_PORT = 4222;
/** -ERRs after which the server keeps the connection: they answer one SUB or PUB. */
const ANSWERS_ONE_COMMAND = /^(Invalid Subject|Invalid Publish Subject|Permissions Violation)/i;

/**
 * NATS core (no JetStream) over nats:// and tls:// (TCP) or ws:// and
 * wss:// (its WebSocket port). Phases: `connect` (TCP; for tls:// also the
 * server's plain-text INFO and the TLS upgrade after it), `upgrade` (ws
 * only) and `handshake` (INFO → CONNECT + PING → PONG). A channel is a
 * subject (a wildcard one's messages are delivered under the wildcard).
 * NATS acknowledges nothing, so subscribe and publish each end with a PING
 * whose PONG says the server has processed the command. In a cluster a
 * subscription reaches the other nodes a moment after its PONG: a message
 * published there before then reaches no one.
 */
export default defineAdapter({
  protocol: "nats",
  description: "NATS core over TCP, TLS or WebSocket",
  schemes: ["nats", "tls", "ws", "wss"],
  capabilities: { channels: true, resume: false },
  settingsSchema: natsSettings,
  async connect(options) {
    const client = new NatsClient(options);
    try {
      await client.open();
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  },
  async load(_client, { protocolSettings, signal, withinMs }) {
    return protocolSettings.monitor_url ? varzLoad(protocolSettings.monitor_url, signal, withinMs) : undefined;
  },
});

/** A PING sent after a command; `error` is a -ERR the server answered that command with. */
interface Ping {
  done: boolean;
  error?: string;
}

/** One connection to a NATS server. */
class NatsClient extends ClientBase implements RealtimeClient {
  info: Record<string, unknown> = {};
  private server?: NatsInfo;
  /** Every socket under the connection (a TCP one, and the TLS one over it), destroyed together. */
  private sockets: net.Socket[] = [];
  private ws?: WebSocket;
  private secured = false;
  /** True once the handshake's PONG came: a -ERR before it is a refusal. */
  private ready = false;
  private closed = false;
  private readonly parser = new NatsParser((frame) => this.onFrame(frame));
  private readonly pings: Ping[] = [];
  /** subject → sid, and back. */
  private readonly sids = new Map<string, string>();
  private readonly subjects = new Map<string, string>();
  private lastSid = 0;
  private readonly host: string;

  constructor(private readonly options: ConnectOptions<NatsSettings>) {
    super(describeTarget(options.url, options.name), options.signal);
    this.host = new URL(options.url).hostname.replace(/^\[|\]$/g, "");
  }

  async open(): Promise<void> {
    const { url, phase, label } = this.options;
    const scheme = new URL(url).protocol.slice(0, -1);
    if (scheme === "ws" || scheme === "wss") await this.openWebSocket();
    else await this.openTcp(scheme);
    await phase(phaseName("handshake", label), () => this.handshake());
  }

  private wire(): WireOptions {
    const { url, settings, phase, label } = this.options;
    return { url, where: this.where, settings, signal: this.signal, phase, label };
  }

  private async openWebSocket(): Promise<void> {
    // INFO may come with the 101: listen from the moment it opens.
    const ws = await openWebSocket({ ...this.wire(), onOpen: (open) => open.on("message", (data) => this.read(toBuffer(data))) });
    this.ws = ws;
    ws.on("error", (err) => this.fail(explainSocketError(err, this.where)));
    ws.on("close", (code, reason) => this.lost(` (${code}${reason.length ? ` "${reason.toString()}"` : ""})`));
  }

  /** nats:// or tls://; for tls:// TLS follows the server's plain-text INFO, both inside `connect`, unless `tls_first`. */
  private async openTcp(scheme: string): Promise<void> {
    const { url, settings, protocolSettings, phase, label } = this.options;
    if (settings.auth && "bearer" in settings.auth) {
      throw new ProbeFailure(`auth { bearer } is sent as the Authorization header of a WebSocket upgrade, and ${scheme}:// has none: use a ws:// URL, or auth { token } or { username, password }`);
    }
    const target = { ...this.wire(), host: this.host, port: Number(new URL(url).port || DEFAULT_PORT) };
    if (scheme !== "tls" || protocolSettings.tls_first) {
      this.useSocket(await openSocket({ ...target, secure: scheme === "tls" }));
      this.secured = scheme === "tls";
      return;
    }
    await phase(phaseName("connect", label), async () => {
      this.useSocket(await openSocket({ ...target, phase: untimed, secure: false }));
      const info = await this.until(() => this.server);
      if (!info?.tls_required && !info?.tls_available) throw new ProbeFailure(`${this.where} offers no TLS (its INFO has no tls_required): use nats://, or check the port`);
      await this.startTls();
    });
  }

  async subscribe(channel: string): Promise<Position> {
    const problem = subjectProblem(channel, true);
    if (problem) throw new ProbeFailure(`cannot subscribe to ${JSON.stringify(channel)}: ${problem}`);
    if (this.sids.has(channel)) return {};
    const sid = String(++this.lastSid);
    this.sids.set(channel, sid);
    this.subjects.set(sid, channel);
    const error = await this.confirmed(this.send(encodeSub(channel, sid) + PING));
    if (error) {
      this.sids.delete(channel);
      this.subjects.delete(sid);
      throw new ProbeFailure(`${this.where} refused the subscription to ${channel}: ${error}`);
    }
    return {};
  }

  async publish(channel: string, payload: unknown): Promise<Position> {
    const problem = subjectProblem(channel, false);
    if (problem) throw new ProbeFailure(`cannot publish on ${JSON.stringify(channel)}: ${problem}`);
    const body = Buffer.from(typeof payload === "string" ? payload : JSON.stringify(payload ?? null));
    const max = this.server?.max_payload;
    if (max !== undefined && body.length > max) throw new ProbeFailure(`a ${body.length}-byte message is over ${this.where}'s max_payload of ${max} bytes`);
    const error = await this.confirmed(this.send(encodePub(channel, body, PING)));
    if (error) throw new ProbeFailure(`${this.where} refused the publish on ${channel}: ${error}`);
    return {};
  }

  /** A PING round trip: the server answers in order, so whatever it sent before the PONG has arrived. */
  async flush(ms: number): Promise<void> {
    const ping = this.send(PING);
    await this.until(() => (ping.done ? true : undefined), ms);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.fail(new ProbeFailure(`the connection to ${this.where} was closed`));
    this.drop();
  }

  private async handshake(): Promise<void> {
    const server = await this.until(() => this.server);
    // A full server sends its -ERR right behind INFO: let that, not our CONNECT, end it.
    if (this.failure) throw this.failure;
    if (server!.tls_required && !this.secured && this.sockets.length) await this.startTls();
    await this.confirmed(this.send(encodeConnect(this.connectOptions()) + PING));
    this.ready = true;
    this.info = pick(server!, ["server_id", "server_name", "version", "cluster", "client_id"]);
  }

  private connectOptions(): Record<string, unknown> {
    const { settings, protocolSettings, url } = this.options;
    const auth = settings.auth ?? credentialsInUrl(url);
    return {
      verbose: false,
      pedantic: false,
      tls_required: this.secured,
      headers: false,
      no_responders: false,
      protocol: 1,
      lang: "node",
      version: VERSION,
      name: protocolSettings.name,
      ...(auth && "token" in auth ? { auth_token: auth.token } : {}),
      ...(auth && "username" in auth ? { user: auth.username, pass: auth.password } : {}),
    };
  }

  /** Sends a command that ends with PING; resolves with the -ERR the server answered it with, if any, once its PONG came. */
  private async confirmed(ping: Ping): Promise<string | undefined> {
    await this.until(() => (ping.done ? true : undefined));
    return ping.error;
  }

  /** Writes `data`, whose last command is a PING, and returns that PING to wait on. */
  private send(data: string | Buffer): Ping {
    if (this.failure) throw this.failure;
    const ping: Ping = { done: false };
    this.pings.push(ping);
    this.write(data);
    return ping;
  }

  private write(data: string | Buffer): void {
    if (this.ws) this.ws.send(data, { binary: true });
    else this.sockets.at(-1)?.write(data);
  }

  private onFrame(frame: NatsFrame): void {
    switch (frame.op) {
      case "INFO":
        this.server ??= frame.info;
        break;
      case "PING":
        this.write(PONG);
        return;
      case "PONG": {
        const ping = this.pings.shift();
        if (ping) ping.done = true;
        break;
      }
      case "MSG": {
        const subject = this.subjects.get(frame.sid);
        if (subject !== undefined) this.deliver(subject, frame.payload.toString("utf8"));
        return;
      }
      case "-ERR":
        this.onError(`-ERR '${frame.message}'`, frame.message);
        break;
      case "+OK":
        return;
    }
    this.wake();
  }

  private onError(quoted: string, message: string): void {
    if (!this.ready) {
      const noAuth = this.server?.auth_required && !this.options.settings.auth && !credentialsInUrl(this.options.url);
      const hint = noAuth && /authorization/i.test(message) ? " (the server requires auth and the probe gave none: set auth)" : "";
      this.refuse({ message: quoted, full: /maximum connections exceeded/i.test(message) }, `${this.where} refused the connection: ${quoted}${hint}`);
      this.drop();
    } else if (ANSWERS_ONE_COMMAND.test(message)) {
      // The server answers in order: this -ERR is for the command before the first PING still waiting.
      if (this.pings[0]) this.pings[0].error ??= quoted;
    } else {
      this.fail(new ProbeFailure(`${this.where} ended the connection: ${quoted}`));
      this.drop();
    }
  }

  private read(chunk: Buffer): void {
    if (this.closed) return;
    try {
      this.parser.feed(chunk);
    } catch (err) {
      this.fail(new ProbeFailure(`${this.where} sent something that is not NATS: ${(err as Error).message}`));
      this.drop();
    }
  }

  private lost(detail = ""): void {
    this.fail(new ProbeFailure(`${this.where} closed the connection${this.ready ? "" : this.server ? " during the handshake" : " before sending INFO"}${detail}`));
  }

  private useSocket(socket: net.Socket): void {
    this.sockets.push(socket);
    socket.on("data", (chunk: Buffer) => this.read(chunk));
    socket.on("error", (err) => this.fail(explainSocketError(err, this.where)));
    socket.on("close", () => this.lost());
  }

  /** Upgrades the TCP socket to TLS after the server's plain-text INFO, as NATS does. */
  private async startTls(): Promise<void> {
    const host = this.host;
    if (this.parser.pending) throw new ProbeFailure(`${this.where} sent more than INFO before TLS`);
    const plain = this.sockets[0]!;
    plain.removeAllListeners("data");
    plain.removeAllListeners("close");
    plain.removeAllListeners("error");
    plain.on("error", () => {});
    const secure = tls.connect({ ...tlsOptions(this.options.settings), socket: plain, host, servername: net.isIP(host) ? "" : host });
    secure.once("secureConnect", () => ((this.secured = true), this.wake()));
    this.useSocket(secure);
    await this.until(() => (this.secured ? true : undefined));
  }

  /** Ends the wire at once, without a goodbye. */
  private drop(): void {
    if (this.ws) terminate(this.ws);
    for (const socket of this.sockets) {
      socket.removeAllListeners("data");
      socket.destroy();
    }
  }
}

/** `nats://token@host` and `nats://user:pass@host`, as NATS clients take them. */
function credentialsInUrl(url: string): { token: string } | { username: string; password: string } | undefined {
  const { username, password } = new URL(url);
  if (!username) return undefined;
  return password ? { username: decodeURIComponent(username), password: decodeURIComponent(password) } : { token: decodeURIComponent(username) };
}

function toBuffer(data: WebSocket.RawData): Buffer {
  return Buffer.isBuffer(data) ? data : Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

function pick(info: NatsInfo, fields: string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((f) => info[f] !== undefined).map((f) => [f, info[f]]));
}
