import http from "node:http";
import https from "node:https";
import type net from "node:net";
import type { Duplex } from "node:stream";
import type { Manager, Socket } from "socket.io-client";
import { z } from "zod";
import { checkEgressUrl, egressLookup } from "../../core/index.ts";
import { explainSocketError } from "../gateway-session.ts";
import { ProbeFailure } from "../types.ts";
import { ClientBase } from "./client-base.ts";
import { describeTarget, phaseName, tlsOptions, upgradeHeaders } from "./transport.ts";
import { defineAdapter, type ConnectOptions, type ConnectTarget, type PhaseRunner, type Position, type ResumableClient, type Resumed } from "./types.ts";
import { lazyPackage } from "../../core/index.ts";

const socketIoClient = lazyPackage<typeof import("socket.io-client")>("socket.io-client");

/** Names socket.io-client keeps for itself: emitting one throws, listening to one hears the library, not the app. */
const RESERVED_EVENTS = ["connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"];

const eventName = (fallback: string) =>
  z
    .string()
    .min(1)
    .refine((name) => !RESERVED_EVENTS.includes(name), { error: `a reserved Socket.IO event name (${RESERVED_EVENTS.join(", ")}): use the app's own` })
    .default(fallback);

/** The `socket.io:` block of a probe's `with:`: how the app's events are named, and how to reach it. */
export const socketIoSettings = z.strictObject({
  /** The namespace to connect to. @defaultValue "/" (or the URL's path, as in `io("https://host/admin")`) */
  namespace: z.string().regex(/^\//, { error: 'a namespace starts with "/", like "/chat"' }).default("/"),
  /** The server's request path (its `path` option). @defaultValue "/socket.io/" */
  path: z.string().regex(/^\//, { error: 'a path starts with "/"' }).default("/socket.io/"),
  /** Emitted as `(channel, ack)` to join a channel (a room). @defaultValue "subscribe" */
  subscribe_event: eventName("subscribe"),
  /** Emitted as `(channel, payload, ack)` to publish. @defaultValue "publish" */
  publish_event: eventName("publish"),
  /**
   * Received as `(payload, channel?)`: a second argument naming a subscribed
   * channel says which; otherwise the message counts for every subscribed
   * channel. @defaultValue "message"
   */
  message_event: eventName("message"),
  /**
   * Whether the app answers subscribe and publish through their ack
   * callback; the verbs wait for it, and an answer with `ok: false` or
   * `error` fails them. False: they resolve once sent, and there is no flush.
   * @defaultValue true
   */
  acks: z.boolean().default(true),
  /** engine.io transports to try, in order. @defaultValue ["websocket"] */
  transports: z
    .array(z.enum(["polling", "websocket"]))
    .min(1)
    .refine((list) => new Set(list).size === list.length, { error: "name each transport once" })
    .default(["websocket"]),
});

export type SocketIoSettings = z.output<typeof socketIoSettings>;

/** A refusal that reads like a capacity reason: the app said it is full. */
const FULL = /full|capacity|too many|limit|busy/i;

/**
 * Socket.IO 4 (engine.io v4) with socket.io-client. Phases: `connect` (TCP,
 * and TLS for https/wss: timed on the socket socket.io-client's agent
 * makes), `upgrade` (engine.io open: the HTTP 101 and engine.io's own open
 * packet, or the first long-polling round trip) and `handshake` (the
 * namespace CONNECT). A channel is a room the app joins on
 * `subscribe_event`; a refusal is the app's `connect_error`. Resume is
 * connection state recovery, on the node the client left.
 */
export default defineAdapter({
  protocol: "socket.io",
  description: "Socket.IO 4 over WebSocket or HTTP long-polling",
  schemes: ["ws", "wss", "http", "https"],
  capabilities: { channels: true, resume: true },
  settingsSchema: socketIoSettings,
  async connect(options) {
    try {
      checkEgressUrl(new URL(options.url));
    } catch (err) {
      throw new ProbeFailure((err as Error).message);
    }
    const client = new SocketIoClient(options);
    try {
      await client.open(options.phase, options.label);
    } catch (err) {
      client.close();
      throw err;
    }
    return client;
  },
});

/** An emit waiting for the app's ack: `answer` holds the ack's arguments once it came. */
interface Ack {
  done: boolean;
  answer?: unknown[];
}

/** The step of a connection's setup each event marks. */
type Reached = "connect" | "upgrade" | "handshake";

/** One Socket.IO client: a Manager of its own (no reconnection), one namespace socket on it, and every TCP socket under it. */
class SocketIoClient extends ClientBase implements ResumableClient {
  info: Record<string, unknown> = {};
  flush?: (ms: number) => Promise<void>;
  private readonly settings: SocketIoSettings;
  private readonly namespace: string;
  private readonly manager: Manager;
  private readonly socket: Socket;
  private readonly agent: http.Agent;
  private readonly tcp = new Set<net.Socket>();
  /** Every channel subscribed to, in order: what a message without a channel argument counts for. */
  private readonly channels = new Set<string>();
  private reached = new Set<Reached>();
  private dropping = false;
  private closed = false;

  constructor(options: ConnectOptions<SocketIoSettings>) {
    super(describeTarget(options.url, options.name), options.signal);
    const { settings } = options;
    this.settings = options.protocolSettings;
    const url = new URL(options.url);
    const secure = url.protocol === "https:" || url.protocol === "wss:";
    this.namespace = this.settings.namespace !== "/" ? this.settings.namespace : url.pathname.replace(/\/+$/, "") || "/";
    const tls = secure ? tlsOptions(settings) : {};
    this.agent = timedAgent(secure, tls, (socket) => this.watch(socket, secure));
    const headers = upgradeHeaders(settings);
    this.manager = new (socketIoClient().Manager)(`${url.protocol}//${url.host}${url.search}`, {
      path: this.settings.path,
      transports: this.settings.transports,
      autoConnect: false,
      reconnection: false,
      // The run's signal bounds the connection attempt; socket.io-client's own timer would outlive an aborted run.
      timeout: false as unknown as number,
      forceNew: true,
      agent: this.agent as unknown as string,
      extraHeaders: headers,
      perMessageDeflate: false as unknown as { threshold: number },
      ...(settings.subprotocol ? { protocols: [settings.subprotocol] } : {}),
      ...(secure ? { ca: tls.ca as string[] | undefined, rejectUnauthorized: tls.rejectUnauthorized } : {}),
    });
    const auth = settings.auth && "token" in settings.auth ? { token: settings.auth.token } : undefined;
    this.socket = this.manager.socket(this.namespace, auth ? { auth } : {});
    this.socket.on("connect", () => this.mark("handshake"));
    this.socket.on("connect_error", (err) => this.onConnectError(err));
    this.socket.on("disconnect", (reason) => this.onDisconnect(reason));
    this.socket.on(this.settings.message_event, (...args: unknown[]) => this.onMessage(args));
    this.manager.on("open", () => this.mark("upgrade"));
    // A round trip needs an answer from the app: an acked subscribe to a channel already joined.
    if (this.settings.acks) this.flush = (ms) => this.roundTrip(ms);
  }

  /** Opens the connection (again, on resume), timing connect, upgrade and handshake. */
  async open(phase: PhaseRunner, label?: string): Promise<void> {
    this.reached = new Set();
    this.socket.connect();
    const engine = this.manager.engine;
    // "forced close" is the client's own doing: a connect_error (which says why) or close().
    engine.on("close", (reason: string) => {
      if (engine === this.manager.engine && !this.reached.has("handshake") && !this.dropping && reason !== "forced close") {
        this.fail(new ProbeFailure(`${this.where} closed the connection before the Socket.IO connection was set up (${reason})`));
      }
    });
    for (const step of ["connect", "upgrade", "handshake"] as const) {
      await phase(phaseName(step, label), () => this.until(() => (this.reached.has(step) ? true : undefined)));
    }
    this.info = { namespace: this.namespace, transport: this.manager.engine.transport?.name };
  }

  async subscribe(channel: string): Promise<Position> {
    const known = this.channels.has(channel);
    // Joined before the ack comes: a message the app sends right after joining may arrive ahead of it.
    this.channels.add(channel);
    try {
      await this.confirmed(this.send(this.settings.subscribe_event, [channel]), `the subscription to ${channel}`);
    } catch (err) {
      if (!known) this.channels.delete(channel);
      throw err;
    }
    return {};
  }

  async publish(channel: string, payload: unknown): Promise<Position> {
    const text = typeof payload === "string" ? payload : JSON.stringify(payload);
    await this.confirmed(this.send(this.settings.publish_event, [channel, text]), `the publish on ${channel}`);
    return {};
  }

  /** Drops the TCP connection under the transport, as a network fault would: the server keeps the session ("transport close" is recoverable). */
  async drop(): Promise<void> {
    this.dropping = true;
    for (const socket of this.tcp) socket.destroy();
    await this.until(() => (this.socket.connected ? undefined : true));
  }

  /**
   * Reconnects to the URL the client left, whatever `target` says: the
   * server recovers a session only where it was kept, which is the node
   * left unless the app's adapter shares sessions (the in-memory adapter
   * keeps them per node; @socket.io/redis-adapter keeps none). `target`
   * names the phases. Recovery also needs a broadcast to have reached the
   * client before the drop (its offset is where the replay starts).
   * Channels the server did not restore are subscribed again.
   */
  async resume(target: ConnectTarget, phase: PhaseRunner): Promise<Resumed> {
    if (this.socket.connected) throw new ProbeFailure(`cannot resume ${this.where}: the connection was not dropped`);
    this.dropping = false;
    await this.open(phase, target.label);
    if (this.socket.recovered) return { recovered: true };
    for (const channel of this.channels) await this.confirmed(this.send(this.settings.subscribe_event, [channel]), `the subscription to ${channel}`);
    return {
      recovered: false,
      why: "socket.recovered false: the server kept no session to restore (its adapter stores none, as @socket.io/redis-adapter; connection state recovery off; the session expired), or no broadcast had reached the client before the drop",
    };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.fail(new ProbeFailure(`the connection to ${this.where} was closed`));
    try {
      this.socket.disconnect();
      this.manager.engine?.close();
    } catch {
      // the library's own teardown; the sockets below end regardless
    }
    for (const socket of this.tcp) socket.destroy();
    this.agent.destroy();
  }

  private async roundTrip(ms: number): Promise<void> {
    const channel = this.channels.values().next().value;
    if (channel === undefined) return;
    const ack = this.send(this.settings.subscribe_event, [channel]);
    await this.until(() => (ack.done ? true : undefined), ms);
  }

  /** Emits at once (with an ack callback when the app acks) and returns the ack to wait on. */
  private send(event: string, args: unknown[]): Ack {
    if (this.failure) throw this.failure;
    // socket.io-client would buffer an emit made while disconnected and send it on the next connection.
    if (!this.socket.connected) throw new ProbeFailure(`not connected to ${this.where}: the connection dropped`);
    const ack: Ack = { done: !this.settings.acks };
    if (this.settings.acks) {
      this.socket.emit(event, ...args, (...answer: unknown[]) => {
        Object.assign(ack, { done: true, answer });
        this.wake();
      });
    } else {
      this.socket.emit(event, ...args);
    }
    return ack;
  }

  private async confirmed(ack: Ack, what: string): Promise<void> {
    await this.until(() => (ack.done ? true : undefined));
    const answer = ack.answer?.[0] as { ok?: unknown; error?: unknown } | null | undefined;
    if (answer && typeof answer === "object" && (answer.ok === false || (answer.error !== undefined && answer.error !== null && answer.error !== false))) {
      throw new ProbeFailure(`${this.where} refused ${what}: it answered ${quote(answer)}`);
    }
  }

  private onMessage(args: unknown[]): void {
    const [payload, named] = args.filter((arg) => typeof arg !== "function");
    const channels = typeof named === "string" && this.channels.has(named) ? [named] : [...this.channels];
    const text = typeof payload === "string" ? payload : Buffer.isBuffer(payload) ? payload.toString("utf8") : JSON.stringify(payload ?? null);
    for (const channel of channels) this.deliver(channel, text);
  }

  private onConnectError(err: Error & { type?: string; description?: unknown; data?: unknown }): void {
    if (err.type === "TransportError") {
      this.fail(transportFailure(err, this.where));
      return;
    }
    const message = err.data === undefined ? err.message : `${err.message} ${quote(err.data)}`;
    this.refuse({ message, full: FULL.test(message) }, `${this.where} refused the Socket.IO connection: connect_error ${quote(message)}`);
  }

  private onDisconnect(reason: string): void {
    if (this.dropping || this.closed) this.wake();
    else this.fail(new ProbeFailure(`${this.where} ended the Socket.IO connection (${reason})`));
  }

  /** A TCP socket under the connection: its connect is the `connect` phase, its error the connection's. */
  private watch(socket: net.Socket, secure: boolean): void {
    this.tcp.add(socket);
    socket.once(secure ? "secureConnect" : "connect", () => this.mark("connect"));
    socket.on("error", (err) => this.dropping || this.fail(explainSocketError(err, this.where)));
    socket.once("close", () => this.tcp.delete(socket));
  }

  private mark(step: Reached): void {
    this.reached.add(step);
    this.wake();
  }
}

/**
 * An http(s).Agent that hands every socket it makes to `watch`. engine.io-client
 * passes its `agent` to ws (and to long-polling requests), so this is the
 * one place the TCP connect of a Socket.IO connection can be seen.
 */
function timedAgent(secure: boolean, tls: object, watch: (socket: net.Socket) => void): http.Agent {
  const options = { ...tls, lookup: egressLookup };
  const agent = secure ? new https.Agent(options) : new http.Agent(options as http.AgentOptions);
  const create = agent.createConnection.bind(agent) as (options: object, callback?: (err: Error | null, stream: Duplex) => void) => Duplex | null | undefined;
  agent.createConnection = (connectOptions, callback) => {
    const socket = create(connectOptions, callback);
    if (socket) watch(socket as net.Socket);
    return socket;
  };
  return agent;
}

/** A transport's failure (refused, unresolvable, an HTTP status instead of 101) in the words the other adapters use. */
function transportFailure(err: Error & { description?: unknown }, where: string): ProbeFailure {
  const description = err.description;
  const cause = description instanceof Error ? description : (description as { error?: unknown } | undefined)?.error;
  if (cause instanceof Error) return explainSocketError(cause, where);
  if (typeof description === "number") return new ProbeFailure(`${where} answered the long-polling request with HTTP ${description}`);
  return new ProbeFailure(`${where}: ${err.message}`);
}

/** A value as a message quotes it, cut short. */
function quote(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
