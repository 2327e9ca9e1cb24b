import { z } from "zod";
import {
  BYPASS_NOTE,
  channelSetting,
  continuityProblems,
  defineProbe,
  deliveryProblems,
  gatewayAdminSetting,
  gatewayNodes,
  GatewaySession,
  ProbeFailure,
  probeChannel,
  runClock,
  wsUrlSetting,
  type GatewayFrame,
  type GatewayNodeTarget,
  type ProbeContext,
  type RunClock,
} from "../src/probe-runtime/index.ts";

const settingsSchema = z.strictObject({
  /**
   * Channel name the probe's channel starts with; the probe id and location
   * are appended so no two probes share one.
   * @defaultValue "pulseboard.probe.pubsub"
   */
  channel: channelSetting.default("pulseboard.probe.pubsub"),
  /**
   * Messages published per run, back to back, to check order and serials.
   * @defaultValue 3
   */
  messages: z.int().min(1).max(50).default(3),
  /** Node URLs to pair up. @defaultValue the fleet's live nodes (admin API), else the configured node URLs */
  nodes: z.array(wsUrlSetting).min(1).optional(),
  /** The fleet admin API for the live node list; null uses the configured node URLs only. @defaultValue the managed gateway's */
  admin: gatewayAdminSetting.nullable().optional(),
});

/** Which ordered node pair each probe takes next, so every pair gets its turn over time. */
const nextTurn = new Map<string, number>();

/**
 * Subscribes on one gateway node and publishes on another, so the message
 * has to cross the fleet (through the cache Redis) to arrive. Publishes a few
 * messages back to back and checks they all arrive, once, in order, with
 * consecutive serials of one epoch. Each run takes the next ordered pair of
 * nodes (subscribe on node-0 and publish on node-1, then the other way, …),
 * so over time every node has delivered to every other. Phases name the nodes: connect,
 * upgrade and welcome per node, subscribe, publish, deliver. The latency is
 * the slowest publish → deliver time.
 */
export default defineProbe({
  kind: "pubsub",
  description: "Publish on one gateway node, deliver on another: latency, order and serial continuity",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const clock = runClock(ctx);
    const { nodes, source, bypass } = await ctx.phase("nodes", () => gatewayNodes(ctx, { nodes: settings.nodes, admin: settings.admin }));
    // Without the cache nothing crosses nodes: check that each node still delivers to its own clients.
    const [subscriberNode, publisherNode] = nextPair(ctx.probe, nodes, bypass === true);
    const route = `${publisherNode.id} → ${subscriberNode.id}`;
    const channel = probeChannel(settings.channel, ctx.probe, ctx.location);
    const sessions: GatewaySession[] = [];
    try {
      const subscriber = await open(subscriberNode, ctx, sessions);
      const subscribed = await ctx.phase(`subscribe ${subscriberNode.id}`, () =>
        subscriber.request({ type: "subscribe", channel, id: "s1" }, (f) => f.type === "subscribed"),
      );
      const publisher = await open(publisherNode, ctx, sessions);
      const run = Math.random().toString(36).slice(2, 10);
      const sent = await ctx.phase(`publish ${publisherNode.id}`, () => publishAll(publisher, channel, run, settings.messages, clock));
      const arrived = await ctx.phase(`deliver ${route}`, async () => {
        const frames = await awaitDeliveries(subscriber, channel, sent.serials.length, clock);
        const received = frames.map((f) => f.serial ?? "?");
        const problems = [...firstSerialProblems(subscribed.serial, sent.serials), ...continuityProblems(sent.serials), ...deliveryProblems(sent.serials, received)];
        if (problems.length > 0) throw new ProbeFailure(`${problems.join("; ")} (channel ${channel})`);
        return frames;
      });
      const sentAt = new Map(sent.serials.map((serial, i) => [serial, sent.at[i]!]));
      const latencies = arrived.map((f) => round(f.receivedAt! - sentAt.get(f.serial!)!));
      return {
        status: bypass ? "degraded" : "ok",
        latencyMs: Math.max(...latencies),
        ...(bypass ? { error: `${BYPASS_NOTE}; ${subscriberNode.id} delivered its own publishes` } : {}),
        details: { subscriber: subscriberNode.id, publisher: publisherNode.id, nodes_from: source, cache_bypassed: bypass === true, channel, serials: sent.serials, latency_ms: latencies },
      };
    } finally {
      for (const session of sessions) session.close();
    }
  },
});

/** The next ordered pair (subscriber, publisher) for this probe; one node, or each node on its own, pairs with itself. */
function nextPair(probe: string, nodes: GatewayNodeTarget[], sameNode: boolean): [GatewayNodeTarget, GatewayNodeTarget] {
  const sorted = [...nodes].sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
  const pairs = sameNode
    ? sorted.map((a) => [a, a] as [GatewayNodeTarget, GatewayNodeTarget])
    : sorted.flatMap((a) => sorted.filter((b) => b !== a).map((b) => [a, b] as [GatewayNodeTarget, GatewayNodeTarget]));
  if (pairs.length === 0) pairs.push([sorted[0]!, sorted[0]!]);
  const turn = nextTurn.get(probe) ?? 0;
  nextTurn.set(probe, turn + 1);
  return pairs[turn % pairs.length]!;
}

async function open(node: GatewayNodeTarget, ctx: ProbeContext, sessions: GatewaySession[]): Promise<GatewaySession> {
  const { session } = await GatewaySession.open(node.url, ctx, { name: node.id, label: node.id });
  sessions.push(session);
  return session;
}

/** Publishes `count` messages back to back and collects their acks in order. */
async function publishAll(publisher: GatewaySession, channel: string, run: string, count: number, clock: RunClock): Promise<{ serials: string[]; at: number[] }> {
  const at: number[] = [];
  for (let seq = 0; seq < count; seq++) {
    at.push(performance.now());
    publisher.send({ type: "publish", channel, data: { probe: run, seq }, id: `p${seq}` });
  }
  const serials: string[] = [];
  for (let seq = 0; seq < count; seq++) {
    const ack = await publisher.nextWithin((f) => f.id === `p${seq}` && (f.type === "ack" || f.type === "error"), clock.left());
    if (!ack) throw new ProbeFailure(`${publisher.where} did not acknowledge publish ${seq + 1} of ${count}: the gateway accepted the frame but never stored the message`);
    serials.push(ack.serial ?? "?");
  }
  return { serials, at };
}

/** Every message on the channel until `count` have come, or the run must report. */
async function awaitDeliveries(subscriber: GatewaySession, channel: string, count: number, clock: RunClock): Promise<GatewayFrame[]> {
  const arrived: GatewayFrame[] = [];
  while (arrived.length < count) {
    const frame = await subscriber.nextWithin((f) => f.type === "message" && f.channel === channel, clock.left());
    if (!frame) break;
    arrived.push(frame);
  }
  // Anything already queued behind them is a repeat or a stranger: count it too.
  return [...arrived, ...subscriber.takeAll((f) => f.type === "message" && f.channel === channel)];
}

/** The first publish must come right after the channel's position at subscribe time. */
function firstSerialProblems(top: string | undefined, serials: string[]): string[] {
  const [epoch, offset] = (top ?? "").split(":");
  const [firstEpoch, firstOffset] = (serials[0] ?? "").split(":");
  if (!top || epoch !== firstEpoch) return [];
  return Number(firstOffset) === Number(offset) + 1 ? [] : [`the channel was at ${top} when subscribed, but the first publish got ${serials[0]}`];
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
