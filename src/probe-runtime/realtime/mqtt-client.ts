import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import type { IClientOptions, IConnackPacket, ISubscriptionGrant, MqttClient } from "mqtt";
import { lazyPackage } from "../../core/index.ts";
import { explainSocketError } from "../gateway-session.ts";
import { ProbeFailure } from "../types.ts";
import { BrokerRefused, ClientBase } from "./client-base.ts";
import type { ConnectionSettings } from "./connection.ts";
import { codeText, connackRefusal, reasonName, reasonText, subackText } from "./mqtt-reasons.ts";
import type { MqttSettings } from "./mqtt-settings.ts";
import { openMqttStream } from "./mqtt-wire.ts";
import { describeTarget, phaseName } from "./transport.ts";
import type { ConnectOptions, ConnectTarget, PhaseRunner, Position, ResumableClient, Resumed } from "./types.ts";

const mqttJs = lazyPackage<typeof import("mqtt")>("mqtt");

/** The user name a `{ token }` auth is sent with: MQTT has no token field, so the token goes as the password. */
export const TOKEN_USERNAME = "pulseboard";
/** How long an MQTT 5 broker is asked to keep a `clean: false` session after its connection ends: long enough to resume. */
const SESSION_EXPIRY_S = 300;
/** mqtt.js's own CONNACK timer; the run's deadline (the signal) ends a handshake long before. */
const CONNACK_TIMEOUT_MS = 10 * 60_000;

/** One network connection and the mqtt.js client speaking over it. */
interface Session {
  mqtt: MqttClient;
  stream: Duplex;
  connack?: IConnackPacket;
}

/**
 * One MQTT client of a probe, under one client id across its connections:
 * channels are topics (a message on a topic a wildcard filter matched is
 * delivered under that filter). After `drop`, `resume` connects again with
 * the same id and `clean: false`; the CONNACK's session present flag says
 * whether the broker kept the session, and the QoS 1 messages it queued
 * meanwhile arrive like live ones.
 */
export class MqttProbeClient extends ClientBase implements ResumableClient {
  info: Record<string, unknown> = {};
  readonly clientId: string;
  private session?: Session;
  private readonly channels = new Set<string>();
  /** Topics the adapter subscribed for itself ($SYS): their messages never reach the probe's channels. */
  private readonly internal = new Set<string>();
  private readonly samples = new Map<string, string[]>();
  private closed = false;

  constructor(private readonly options: ConnectOptions<MqttSettings>) {
    super(describeTarget(options.url, options.name), options.signal);
    this.clientId = options.clientId ?? `${options.protocolSettings.client_id_prefix}${randomBytes(6).toString("hex")}`;
  }

  private get version(): 4 | 5 {
    return this.options.protocolSettings.version;
  }

  /** Opens a connection (`connect`, `upgrade` for WebSocket) and sends CONNECT (`handshake`, until CONNACK). */
  async open(target: ConnectTarget, phase: PhaseRunner, clean: boolean): Promise<IConnackPacket> {
    const stream = await openMqttStream({ url: target.url, where: this.where, settings: this.options.settings, signal: this.signal, phase, label: target.label });
    if (this.closed) {
      stream.destroy();
      throw this.failure;
    }
    const session = this.start(stream, clean);
    try {
      const connack = (await phase(phaseName("handshake", target.label), () => this.until(() => session.connack)))!;
      this.info = { clientId: this.clientId, version: this.version === 5 ? "5" : "3.1.1", sessionPresent: connack.sessionPresent };
      return connack;
    } catch (err) {
      stream.destroy();
      throw err;
    }
  }

  async subscribe(channel: string): Promise<Position> {
    const { err } = await this.request<ISubscriptionGrant[]>((mqtt, done) => mqtt.subscribe(channel, { qos: this.options.protocolSettings.qos }, done));
    if (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === "number") throw new ProbeFailure(`${this.where} refused the subscription to ${channel} (${subackText(this.version, code)})`);
      throw new ProbeFailure(`cannot subscribe to ${JSON.stringify(channel)} on ${this.where}: ${err.message}`);
    }
    this.channels.add(channel);
    return {};
  }

  async publish(channel: string, payload: unknown): Promise<Position> {
    const text = typeof payload === "string" ? payload : JSON.stringify(payload ?? null);
    const { err } = await this.request((mqtt, done) => mqtt.publish(channel, text, { qos: this.options.protocolSettings.qos }, done));
    if (err) {
      const code = (err as { code?: unknown }).code;
      if (typeof code === "number") throw new ProbeFailure(`${this.where} refused the publish to ${channel} (PUBACK ${codeText(5, code)}: ${reasonName(5, code)})`);
      throw new ProbeFailure(`cannot publish to ${JSON.stringify(channel)} on ${this.where}: ${err.message}`);
    }
    return {};
  }

  /**
   * An UNSUBSCRIBE of a topic nobody subscribes to, and its UNSUBACK: the
   * broker answers it after whatever it had already sent this client, and
   * it touches no topic a probe or an ACL cares about.
   */
  async flush(ms: number): Promise<void> {
    await this.request((mqtt, done) => mqtt.unsubscribe(`pulseboard-flush/${this.clientId}`, done), ms);
  }

  /** Destroys the stream as a network fault would: no DISCONNECT, so the broker keeps a `clean: false` session. */
  async drop(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    this.fail(new ProbeFailure(`the connection to ${this.where} was dropped`));
    session?.stream.destroy();
  }

  async resume(target: ConnectTarget, phase: PhaseRunner): Promise<Resumed> {
    if (this.closed) throw this.failure;
    if (this.session) await this.drop();
    this.failure = undefined;
    this.refusal = undefined;
    // The same client (and session) on another target: a broker cluster's other node.
    (this as unknown as { where: string }).where = describeTarget(target.url, target.name);
    const connack = await this.open(target, phase, false);
    if (!connack.sessionPresent) {
      for (const channel of this.channels) await this.subscribe(channel);
    }
    return { recovered: connack.sessionPresent };
  }

  /**
   * The first message on `topic` within `ms` (a retained one comes with the
   * SUBACK), kept out of the probe's channels; undefined when none came or
   * the broker refused the subscription.
   */
  async sample(topic: string, ms: number, signal: AbortSignal): Promise<string | undefined> {
    const texts: string[] = [];
    let refused = false;
    const wake = (): void => this.wake();
    this.internal.add(topic);
    this.samples.set(topic, texts);
    signal.addEventListener("abort", wake, { once: true });
    try {
      const mqtt = this.live();
      mqtt.subscribe(topic, { qos: 0 }, (err) => {
        refused = Boolean(err);
        this.wake();
      });
      await this.until(() => (signal.aborted || refused || texts.length > 0 ? true : undefined), ms);
      if (signal.aborted) throw new ProbeFailure(`aborted at the deadline (${this.where})`);
      return texts[0];
    } finally {
      signal.removeEventListener("abort", wake);
      this.samples.delete(topic);
      if (!this.channels.has(topic) && this.session?.connack && !this.failure) this.session.mqtt.unsubscribe(topic);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach();
    this.fail(new ProbeFailure(`the connection to ${this.where} was closed`));
    const session = this.session;
    this.session = undefined;
    session?.stream.destroy();
  }

  /** An mqtt.js client on `stream`, its events feeding this client while it is the current session. */
  private start(stream: Duplex, clean: boolean): Session {
    const settings = this.options.protocolSettings;
    const options: IClientOptions = {
      clientId: this.clientId,
      clean,
      protocolVersion: settings.version,
      keepalive: settings.keepalive,
      ...credentials(this.options.settings.auth),
      ...(settings.version === 5 && !clean ? { properties: { sessionExpiryInterval: SESSION_EXPIRY_S } } : {}),
      reconnectPeriod: 0,
      resubscribe: false,
      connectTimeout: CONNACK_TIMEOUT_MS,
      manualConnect: true,
      // mqtt.js's debug log (DEBUG=mqttjs*) would print CONNECT with its password.
      log: () => {},
    };
    const session: Session = { stream, mqtt: new (mqttJs().MqttClient)(() => stream, options) };
    const { mqtt } = session;
    const current = (): boolean => this.session === session;
    mqtt.on("connect", (connack) => {
      session.connack = connack;
      this.wake();
    });
    mqtt.on("message", (topic, payload) => current() && this.route(topic, payload.toString("utf8")));
    mqtt.on("disconnect", (packet) => current() && this.fail(new ProbeFailure(`${this.where} disconnected the client: DISCONNECT ${reasonText(5, packet.reasonCode ?? 0)}`)));
    mqtt.on("error", (err) => current() && this.fail(this.explain(err, session)));
    mqtt.on("close", () => current() && this.fail(new ProbeFailure(session.connack ? `${this.where} closed the connection` : `${this.where} closed the connection before answering CONNECT`)));
    this.session = session;
    mqtt.connect();
    return session;
  }

  /** An mqtt.js error in a person's words: a CONNACK refusal names its code and what it means. */
  private explain(err: Error, session: Session): ProbeFailure {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "number" && !session.connack) {
      const refusal = connackRefusal(this.version, code);
      this.refusal = refusal;
      return new BrokerRefused(`${this.where} refused the connection: ${refusal.message}`, refusal);
    }
    if (typeof code === "string") {
      if (!session.connack && (code === "ECONNRESET" || code === "EPIPE")) return new ProbeFailure(`${this.where} closed the connection before answering CONNECT (${code})`);
      return explainSocketError(err, this.where);
    }
    if (/keepalive timeout/i.test(err.message)) return new ProbeFailure(`${this.where} did not answer a keepalive ping within ${this.options.protocolSettings.keepalive} s`);
    return new ProbeFailure(`${this.where}: ${err.message}`);
  }

  /** A message to its channel: the topic itself when subscribed, else the wildcard filter that matched it. */
  private route(topic: string, text: string): void {
    const sample = this.samples.get(topic);
    if (sample) {
      sample.push(text);
      this.wake();
    }
    const channel = this.channels.has(topic) ? topic : [...this.channels].find((filter) => topicMatches(filter, topic));
    if (channel === undefined && this.internal.has(topic)) return;
    this.deliver(channel ?? topic, text);
  }

  /** Sends through the current connection and waits for mqtt.js's callback (or `ms`); a broken connection throws. */
  private async request<T = unknown>(send: (mqtt: MqttClient, done: (err?: Error | null, value?: T) => void) => void, ms?: number): Promise<{ err?: Error; value?: T }> {
    const mqtt = this.live();
    let outcome: { err?: Error; value?: T } | undefined;
    send(mqtt, (err, value) => {
      outcome = { err: err ?? undefined, value };
      this.wake();
    });
    return (await this.until(() => outcome, ms)) ?? {};
  }

  private live(): MqttClient {
    if (this.failure) throw this.failure;
    if (!this.session?.connack) throw new ProbeFailure(`not connected to ${this.where}`);
    return this.session.mqtt;
  }
}

/** MQTT's user name and password from the probe's auth; `bearer` travels on the WebSocket upgrade instead. */
function credentials(auth: ConnectionSettings["auth"]): Pick<IClientOptions, "username" | "password"> {
  if (auth && "username" in auth) return { username: auth.username, password: auth.password };
  if (auth && "token" in auth) return { username: TOKEN_USERNAME, password: auth.token };
  return {};
}

/** Whether the topic filter `filter` (with + and # wildcards) matches the topic name `topic`. */
export function topicMatches(filter: string, topic: string): boolean {
  // A filter starting with a wildcard never matches a $ topic ($SYS, …): MQTT 4.7.2.
  if (topic.startsWith("$") && (filter.startsWith("+") || filter.startsWith("#"))) return false;
  const levels = filter.split("/");
  const names = topic.split("/");
  for (const [i, level] of levels.entries()) {
    if (level === "#") return true;
    if (i >= names.length || (level !== "+" && level !== names[i])) return false;
  }
  return levels.length === names.length;
}
