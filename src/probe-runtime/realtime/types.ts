import type { z } from "zod";
import type { ConnectionSettings } from "./connection.ts";

/**
 * The realtime-client contract (ARCHITECTURE.md, "Watching a broker that is
 * not ours"): what a probe kind needs from any broker's protocol. Probe
 * kinds say *what* is checked; an adapter says *how* one protocol connects,
 * subscribes, publishes and receives. Deadlines, phases, loss / duplicate /
 * order accounting and failure wording live once, above the adapters.
 */

/** Times one step of a run and names it in a failure (a run's `ctx.phase`, or a plain call). */
export type PhaseRunner = <T>(name: string, work: () => Promise<T>) => Promise<T>;

/** Runs `work` untimed: for connections made outside a run's phases (a canary, a surge's many sockets). */
export const untimed: PhaseRunner = (_name, work) => work();

/** Why a broker turned a new connection away, in its own words. */
export interface Refusal {
  /**
   * The broker's reason, quoted: `close 1013 "…"`, Socket.IO's
   * `connect_error` message, an MQTT CONNACK code and its name, NATS's
   * `-ERR 'maximum connections exceeded'`.
   */
  message: string;
  /**
   * True when the broker said it is full: close 1013 or our `over_capacity`,
   * MQTT CONNACK "server unavailable" / "quota exceeded", NATS "maximum
   * connections exceeded". False for every other refusal (wrong token, …).
   */
  full: boolean;
  /** The retry hint the broker gave, when it gave one. */
  retryAfterMs?: number;
}

/** One message delivered to a subscriber. */
export interface RealtimeMessage {
  channel: string;
  /** The payload: parsed JSON when the text is JSON, else the text. */
  payload: unknown;
  /** The payload as it came over the wire. */
  text: string;
  /** The message's position in its channel, where the protocol has one (our gateway's serial). */
  position?: string;
  /** When it arrived (performance.now()). */
  receivedAt: number;
}

/** What subscribing and publishing answer. */
export interface Position {
  /** Our gateway's serial (the channel's top on subscribe, the message's on publish); absent where the protocol has none. */
  position?: string;
}

/** Where one connection goes and how messages name it. */
export interface ConnectTarget {
  url: string;
  /** A name for the target, such as "node-1"; messages then say "node-1 (host:port)". */
  name?: string;
  /** Phase names are suffixed with this: "connect" → "connect node-1". */
  label?: string;
}

/** Everything an adapter's `connect` gets. */
export interface ConnectOptions<S = unknown> extends ConnectTarget {
  /** The probe's connection settings: url, headers, auth, subprotocol, tls, and the protocol's own block as `protocolSettings`. */
  settings: ConnectionSettings;
  /** The protocol's own settings block (`mqtt: {…}`, …), parsed by the adapter's `settingsSchema`. */
  protocolSettings: S;
  /** Aborts at the run's deadline (or when a long-lived connection is retired): the socket must end with it. */
  signal: AbortSignal;
  /**
   * Times the connection's phases: `connect` (TCP, and TLS), `upgrade`
   * (HTTP 101, where the protocol runs over WebSocket) and the protocol's
   * handshake (`handshake`; our gateway calls it `welcome`).
   */
  phase: PhaseRunner;
  /**
   * An identity that stays the same across connections of one client, for
   * protocols whose resume keys on it (MQTT's client id). @defaultValue a fresh one
   */
  clientId?: string;
}

/**
 * One open connection to a broker. Every verb fails with a ProbeFailure
 * whose message names the target and the broker's own reason; a broken
 * connection fails every verb waiting on it.
 */
export interface RealtimeClient {
  /** The target as messages name it: "node-1 (127.0.0.1:4002)" or "127.0.0.1:1883". */
  readonly where: string;
  /** What the broker said of itself in its handshake (node id, server id, session present, …), for the result's details. */
  readonly info: Record<string, unknown>;
  /** Set once the broker refused this connection; `full` says whether it said it is full. */
  readonly refusal?: Refusal;
  /** Why the connection is no longer usable, once it is not (closed, dropped, refused). */
  readonly failure?: Error;
  /** Subscribes to `channel` (a room, topic, subject) and resolves once the broker confirmed it. */
  subscribe(channel: string): Promise<Position>;
  /**
   * Publishes `payload` on `channel` and resolves once the broker took it (its
   * ack, where the protocol has one). Sends before its first await, so calls
   * made back to back go out in that order.
   */
  publish(channel: string, payload: unknown): Promise<Position>;
  /**
   * Resolves with (and removes) the first queued or coming message on
   * `channel` that `match` accepts; undefined when none came within `ms`.
   * A connection that breaks meanwhile throws.
   */
  next(channel: string, match: (message: RealtimeMessage) => boolean, ms: number): Promise<RealtimeMessage | undefined>;
  /** Every queued message on `channel`, removed from the queue (repeats and strangers a run must count). */
  takeAll(channel: string): RealtimeMessage[];
  /**
   * A round trip with the broker (a ping, an acked emit): resolves once
   * everything the broker sent before it has arrived, or after `ms`. Runs use
   * it to catch repeats that trail the messages they waited for.
   */
  flush?(ms: number): Promise<void>;
  /** Drops the connection at once; never throws. */
  close(): void;
}

/** What coming back after a drop found. */
export interface Resumed extends Position {
  /** Whether the broker said it restored everything the client missed (our `recovered`, Socket.IO's `socket.recovered`, MQTT's session present). */
  recovered: boolean;
  /** Why not, in the protocol's words, when `recovered` is false ("CONNACK session present 0: …"). */
  why?: string;
}

/** A client of a protocol that can resume: come back after a dropped connection and get what was missed. */
export interface ResumableClient extends RealtimeClient {
  /** Drops the connection the way a network fault would, keeping what the protocol needs to resume. */
  drop(): Promise<void>;
  /**
   * Reconnects (to `target` where the protocol resumes on another node; else
   * to the same URL) and resumes every subscribed channel. Messages the
   * broker replays arrive through `next` like live ones. Phases as `connect`.
   */
  resume(target: ConnectTarget, phase: PhaseRunner): Promise<Resumed>;
}

/** How many clients a broker holds and may hold, where its protocol or monitoring can tell. */
export interface BrokerLoad {
  connections?: number;
  limit?: number;
  /** Where the numbers came from ("$SYS/broker/clients/connected", "/varz"), for the result's details. */
  source: string;
}

/** What an adapter can do beyond connect: a probe kind that needs what one lacks is a config error naming both. */
export interface Capabilities {
  /** Named channels to subscribe and publish on (plain WebSocket has none: it sends and expects). */
  channels: boolean;
  /** Resume after a dropped connection (`ResumableClient`). */
  resume: boolean;
  /**
   * Resume on another node than the one left (our gateway: history is
   * shared through the cache). Without it a client comes back to the URL it
   * left, as Socket.IO's and MQTT's session recovery need. @defaultValue false
   */
  resumeOnAnyNode?: boolean;
}

/**
 * One protocol: one file in src/probe-runtime/realtime/, listed in the
 * registry. `settingsSchema` validates the protocol's own block in a
 * probe's `with:` (`socket.io: {…}`, `mqtt: {…}`, …).
 */
export interface RealtimeAdapter<S = unknown> {
  protocol: string;
  /** A few words for docs and errors: "MQTT 3.1.1 / 5 over TCP, TLS or WebSocket". */
  description: string;
  /** URL schemes the protocol is reached at, without "://": ["mqtt", "mqtts", "ws", "wss"]. */
  schemes: string[];
  capabilities: Capabilities;
  settingsSchema: z.ZodType<S>;
  /** Opens a connection, timing its phases; a refusal fails in the phase it came in, naming the broker's reason. */
  connect(options: ConnectOptions<S>): Promise<RealtimeClient | ResumableClient>;
  /**
   * Why these protocol settings cannot resume, when they cannot (MQTT with
   * a clean session): the resume kind's config error, at the protocol's block.
   */
  resumeProblem?(protocolSettings: S): string | undefined;
  /** The broker's current load, asked through an open client (MQTT's $SYS topics, NATS's monitoring port), when it can tell. */
  load?(client: RealtimeClient, options: { protocolSettings: S; signal: AbortSignal; withinMs: number }): Promise<BrokerLoad | undefined>;
}

/** Defines an adapter with its settings type inferred from the schema. */
export function defineAdapter<S extends z.ZodType>(adapter: Omit<RealtimeAdapter<z.output<S>>, "settingsSchema"> & { settingsSchema: S }): RealtimeAdapter<z.output<S>> {
  return adapter as RealtimeAdapter<z.output<S>>;
}
