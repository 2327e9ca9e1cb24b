import { z } from "zod";
import { GatewaySession, type GatewayFrame } from "../gateway-session.ts";
import { ProbeFailure } from "../types.ts";
import { BrokerRefused, parsePayload } from "./client-base.ts";
import { tlsOptions, upgradeHeaders } from "./transport.ts";
import { defineAdapter, type ConnectOptions, type ConnectTarget, type PhaseRunner, type Position, type RealtimeMessage, type Refusal, type ResumableClient, type Resumed } from "./types.ts";

/**
 * Our own gateway's protocol (docs/protocol.md): the default. Phases
 * connect, upgrade and welcome (its handshake); every message carries a
 * serial, and a client resumes on any node with `since`. The safeguard
 * kind adds the fleet admin API's stats for this protocol.
 */
export default defineAdapter({
  protocol: "pulseboard",
  description: "Pulseboard's own gateway (docs/protocol.md)",
  schemes: ["ws", "wss"],
  capabilities: { channels: true, resume: true, resumeOnAnyNode: true },
  settingsSchema: z.strictObject({}),
  async connect(options) {
    const client = new PulseboardClient(options);
    await client.open(options, options.phase);
    return client;
  },
});

let requests = 0;

/** One client of our gateway: a GatewaySession, and after a drop the next one, resuming each channel from its last serial. */
class PulseboardClient implements ResumableClient {
  info: Record<string, unknown> = {};
  private session!: GatewaySession;
  /** Each subscribed channel and the serial of the last message the client took from it. */
  private readonly channels = new Map<string, string | undefined>();

  constructor(private readonly options: ConnectOptions) {}

  get where(): string {
    return this.session.where;
  }

  get refusal(): Refusal | undefined {
    const refusal = this.session.refusal;
    return refusal && { message: refusal.message, retryAfterMs: refusal.retryAfterMs, full: true };
  }

  get failure(): Error | undefined {
    return this.session.failure;
  }

  async open(target: ConnectTarget, phase: PhaseRunner): Promise<void> {
    const { settings, signal } = this.options;
    this.session = new GatewaySession(target.url, signal, {
      name: target.name,
      label: target.label,
      headers: upgradeHeaders(settings),
      tls: target.url.startsWith("wss:") ? tlsOptions(settings) : undefined,
    });
    try {
      const welcome = await this.session.handshake((name, work) => phase(this.session.phaseName(name), work));
      this.info = { node: welcome.node };
    } catch (err) {
      this.session.close();
      const refusal = this.refusal;
      throw refusal ? new BrokerRefused((err as Error).message, refusal) : err;
    }
  }

  async subscribe(channel: string): Promise<Position> {
    const answer = await this.session.request({ type: "subscribe", channel, id: `s${++requests}` }, (f) => f.type === "subscribed");
    this.channels.set(channel, undefined);
    return { position: answer.serial };
  }

  async publish(channel: string, payload: unknown): Promise<Position> {
    const ack = await this.session.request({ type: "publish", channel, data: payload, id: `p${++requests}` }, (f) => f.type === "ack");
    return { position: ack.serial };
  }

  async next(channel: string, match: (message: RealtimeMessage) => boolean, ms: number): Promise<RealtimeMessage | undefined> {
    const frame = await this.session.nextWithin((f) => isMessage(f, channel) && match(toMessage(f)), ms);
    return frame && this.seen(toMessage(frame));
  }

  takeAll(channel: string): RealtimeMessage[] {
    return this.session.takeAll((f) => isMessage(f, channel)).map((f) => this.seen(toMessage(f)));
  }

  /** A ping round trip: the gateway answers in order, so whatever it sent before has arrived. */
  async flush(ms: number): Promise<void> {
    const id = `f${++requests}`;
    this.session.send({ type: "ping", id });
    await this.session.nextWithin((f) => f.type === "pong" && f.id === id, ms);
  }

  async drop(): Promise<void> {
    this.session.close();
  }

  async resume(target: ConnectTarget, phase: PhaseRunner): Promise<Resumed> {
    await this.open(target, phase);
    let recovered = true;
    let position: string | undefined;
    for (const [channel, since] of this.channels) {
      const answer = await this.session.request({ type: "subscribe", channel, ...(since ? { since } : {}), id: `r${++requests}` }, (f) => f.type === "subscribed");
      if (since && !answer.recovered) recovered = false;
      if (!since) throw new ProbeFailure(`nothing to resume ${channel} from: no message had arrived on it before the drop`);
      position = answer.serial;
    }
    return { recovered, position };
  }

  close(): void {
    this.session?.close();
  }

  private seen(message: RealtimeMessage): RealtimeMessage {
    if (this.channels.has(message.channel) && message.position) this.channels.set(message.channel, message.position);
    return message;
  }
}

function isMessage(frame: GatewayFrame, channel: string): boolean {
  return frame.type === "message" && frame.channel === channel;
}

function toMessage(frame: GatewayFrame): RealtimeMessage {
  const text = typeof frame.data === "string" ? frame.data : JSON.stringify(frame.data ?? null);
  return { channel: frame.channel!, payload: typeof frame.data === "string" ? parsePayload(frame.data) : frame.data, text, position: frame.serial, receivedAt: frame.receivedAt ?? performance.now() };
}
