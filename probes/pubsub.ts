import {
  BYPASS_NOTE,
  continuityProblems,
  defineProbe,
  deliveryProblems,
  fleetMessagingSettings,
  gatewayNodes,
  NodeSessions,
  ProbeFailure,
  probeChannel,
  runClock,
  type GatewayFrame,
  type GatewayNodeTarget,
  type GatewaySession,
  type RunClock,
} from "../src/probe-runtime/index.ts";

/** Settings: `channel` (default "pulseboard.probe.pubsub"), `messages` per run (1-50, default 3), `nodes`, `admin`. */
const settingsSchema = fleetMessagingSettings("pulseboard.probe.pubsub", { max: 50, default: 3 });

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
    const sessions = new NodeSessions(ctx);
    try {
      const subscriber = await sessions.open(subscriberNode);
      const subscribed = await ctx.phase(`subscribe ${subscriberNode.id}`, () =>
        subscriber.request({ type: "subscribe", channel, id: "s1" }, (f) => f.type === "subscribed"),
      );
      const publisher = await sessions.open(publisherNode);
      const run = Math.random().toString(36).slice(2, 10);
      const seqs = Array.from({ length: settings.messages }, (_, i) => i);
      const sent = await ctx.phase(`publish ${publisherNode.id}`, () => publisher.publishBatch(channel, seqs, (seq) => ({ probe: run, seq }), clock.left()));
      const arrived = await ctx.phase(`deliver ${route}`, async () => {
        const frames = await awaitDeliveries(subscriber, channel, sent.serials.length, clock);
        const received = frames.map((f) => f.serial ?? "?");
        const problems = [...firstSerialProblems(subscribed.serial, sent.serials), ...continuityProblems(sent.serials), ...deliveryProblems(sent.serials, received)];
        if (problems.length > 0) throw new ProbeFailure(`${problems.join("; ")} (channel ${channel})`);
        return frames;
      });
      const sentAt = new Map(sent.serials.map((serial, i) => [serial, sent.sentAt[i]!]));
      const latencies = arrived.map((f) => round(f.receivedAt! - sentAt.get(f.serial!)!));
      return {
        status: bypass ? "degraded" : "ok",
        latencyMs: Math.max(...latencies),
        ...(bypass ? { error: `${BYPASS_NOTE}; ${subscriberNode.id} delivered its own publishes` } : {}),
        details: { subscriber: subscriberNode.id, publisher: publisherNode.id, nodes_from: source, cache_bypassed: bypass === true, channel, serials: sent.serials, latency_ms: latencies },
      };
    } finally {
      sessions.closeAll();
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
