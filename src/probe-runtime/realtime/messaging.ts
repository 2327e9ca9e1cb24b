import { z } from "zod";
import type { RunClock } from "../deadline.ts";
import { gatewayNodes, type GatewayNodeList, type GatewayNodeTarget } from "../gateway-admin.ts";
import { ProbeFailure, type ProbeContext } from "../types.ts";
import type { RealtimeSettings } from "./settings.ts";
import type { ConnectTarget, PhaseRunner, RealtimeClient, RealtimeMessage, ResumableClient } from "./types.ts";

/**
 * What the realtime probe kinds do alike on any protocol: open a client
 * through the probe's adapter, publish a batch and collect what arrives,
 * and find the nodes to cross. The kinds say what is checked; this says
 * how, once.
 */

/** A channel name as a probe's settings give it: no white space, no wildcard of MQTT (# +) or NATS (* >). */
export const realtimeChannelSetting = z.string().regex(/^[^\s#+*>]{1,200}$/, { error: "a channel (room, topic, subject) is 1-200 characters with no spaces and no wildcards (# + * >)" });

/** Opens a client of the probe's protocol on `target`, its phases timed by `phase` (a run's ctx.phase). */
export function openClient(settings: RealtimeSettings, target: ConnectTarget, run: { signal: AbortSignal; phase: PhaseRunner }, clientId?: string): Promise<RealtimeClient> {
  return settings.adapter.connect({ ...target, settings, protocolSettings: settings.protocolSettings, signal: run.signal, phase: run.phase, clientId });
}

/** True for a client whose protocol can resume. */
export function isResumable(client: RealtimeClient): client is ResumableClient {
  return typeof (client as Partial<ResumableClient>).resume === "function";
}

/** The clients a run opens, closed together when it ends. */
export class RunClients {
  private readonly clients: RealtimeClient[] = [];

  constructor(
    private readonly settings: RealtimeSettings,
    private readonly ctx: Pick<ProbeContext, "signal" | "phase">,
  ) {}

  /** Opens a client on a node, named and labelled by the node: phases "connect node-1", … */
  async open(node: GatewayNodeTarget, clientId?: string): Promise<RealtimeClient> {
    const client = await openClient(this.settings, { url: node.url, name: node.id, label: node.id }, this.ctx, clientId);
    this.clients.push(client);
    return client;
  }

  closeAll(): void {
    for (const client of this.clients) client.close();
  }
}

/**
 * The nodes a run covers: for our gateway, its fleet's live nodes (admin
 * API) or the configured node URLs, as before; for any other broker, the
 * `nodes` URLs of the settings, else its one `url`.
 */
export async function brokerNodes(settings: RealtimeSettings & { nodes?: string[]; admin?: { url: string; token?: string } | null }, ctx: ProbeContext): Promise<GatewayNodeList> {
  if (settings.protocol === "pulseboard") {
    const configured = settings.nodes ?? (settings.url ? [settings.url] : undefined);
    return ctx.phase("nodes", () => gatewayNodes(ctx, { nodes: configured, admin: settings.admin }));
  }
  const urls = settings.nodes ?? [settings.url!];
  return { nodes: urls.map((url, i) => ({ id: `node-${i}`, url })), source: "settings" };
}

/** What a batch of publishes got back: each message's id (its position, or `#seq`), and when it was sent. */
export interface Published {
  ids: string[];
  sentAt: number[];
  /** True when the broker gave every message a position (our serials): ids are positions and can be checked for continuity. */
  positioned: boolean;
}

/** A message of this run: `{ probe: run, seq }`. */
export function runPayload(run: string, seq: number): { probe: string; seq: number } {
  return { probe: run, seq };
}

/** The seq of a message of this run; undefined for anything else. */
export function runSeq(message: RealtimeMessage, run: string): number | undefined {
  const payload = message.payload as { probe?: unknown; seq?: unknown } | null;
  return payload && typeof payload === "object" && payload.probe === run && typeof payload.seq === "number" ? payload.seq : undefined;
}

/**
 * Publishes `{probe: run, seq}` for each seq back to back, then waits for
 * every ack in order. Fails naming the first publish the broker did not
 * confirm within `ms`.
 */
export async function publishBatch(client: RealtimeClient, channel: string, run: string, seqs: number[], ms: number): Promise<Published> {
  const sentAt: number[] = [];
  const acks = seqs.map((seq) => {
    sentAt.push(performance.now());
    return client.publish(channel, runPayload(run, seq));
  });
  // Every ack is awaited below; keep a failing one from being reported as unhandled before its turn.
  for (const ack of acks) ack.catch(() => {});
  const deadline = performance.now() + ms;
  const positions: (string | undefined)[] = [];
  for (const [i, ack] of acks.entries()) {
    const answer = await within(ack, deadline - performance.now());
    if (!answer) throw new ProbeFailure(`${client.where} did not acknowledge publish ${i + 1} of ${seqs.length} within ${Math.round(ms)} ms: the broker took the frame but never confirmed it`);
    positions.push(answer.position);
  }
  const positioned = positions.every((p) => p !== undefined);
  return { ids: positioned ? (positions as string[]) : seqs.map((seq) => `#${seq}`), sentAt, positioned };
}

/**
 * The run's messages as they arrive on `channel`, until `count` have come or
 * the run must report; then a round trip (where the protocol has one) and
 * whatever trails it, so repeats are counted too. With `positioned`, every
 * message on the channel is taken (a stranger is a problem to name);
 * otherwise only this run's (other publishers may share a foreign topic).
 */
export async function collectDeliveries(client: RealtimeClient, channel: string, run: string, count: number, positioned: boolean, clock: RunClock): Promise<RealtimeMessage[]> {
  const ours = (m: RealtimeMessage): boolean => positioned || runSeq(m, run) !== undefined;
  const arrived: RealtimeMessage[] = [];
  while (arrived.length < count) {
    const message = await client.next(channel, ours, clock.left());
    if (!message) break;
    arrived.push(message);
  }
  if (arrived.length === count && client.flush) await client.flush(Math.min(1_000, clock.left()));
  return [...arrived, ...client.takeAll(channel).filter(ours)];
}

/** A delivered message's id, comparable with `Published.ids`. */
export function deliveredId(message: RealtimeMessage, run: string, positioned: boolean): string {
  if (positioned) return message.position ?? "?";
  const seq = runSeq(message, run);
  return seq === undefined ? "?" : `#${seq}`;
}

/** Resolves with the promise's value, or undefined once `ms` have passed first. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, ms))));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A plain WebSocket client says itself what answers what it sent (its `send` / `expect` settings); channel protocols echo the payload. */
interface Answering {
  connectOnly: boolean;
  matches(message: RealtimeMessage): boolean;
  /** What it waits for, in words ("text matching /^pong …$/"). */
  expected?: string;
}

/** The client's own idea of an answer, when its protocol has no channels (plain WebSocket). */
export function answeringOf(client: RealtimeClient): Answering | undefined {
  const candidate = client as Partial<Answering>;
  return typeof candidate.matches === "function" ? (candidate as Answering) : undefined;
}

/**
 * Publishes a fresh nonce on `channel` and waits up to `ms` for it to come
 * back (on a protocol without channels: for the answer its settings
 * expect). Resolves with the round trip's milliseconds; fails saying the
 * message was taken but not delivered back. The client must be subscribed
 * to `channel` already where the protocol has channels.
 */
export async function echo(client: RealtimeClient, channel: string, ms: number): Promise<number> {
  const started = performance.now();
  const nonce = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const answer = answeringOf(client);
  const sent = await within(client.publish(channel, { probe: nonce }), ms);
  if (!sent) throw new ProbeFailure(`${client.where} did not acknowledge the message published on ${channel} within ${Math.round(ms)} ms`);
  const back = await client.next(channel, answer ? (m) => answer.matches(m) : (m) => isNonce(m.payload, nonce), ms - (performance.now() - started));
  if (!back) {
    const waited = Math.round(performance.now() - started);
    throw new ProbeFailure(answer ? `${client.where} sent no answer matching ${answer.expected ?? "the expected one"} within ${waited} ms` : `${client.where} took the message published on ${channel} but did not deliver it back within ${waited} ms`);
  }
  return Math.round((performance.now() - started) * 10) / 10;
}

function isNonce(data: unknown, nonce: string): boolean {
  return typeof data === "object" && data !== null && (data as { probe?: unknown }).probe === nonce;
}
