import {
  BYPASS_NOTE,
  brokerNodes,
  collectDeliveries,
  continuityProblems,
  defineProbe,
  deliveredId,
  deliveryProblems,
  fleetMessagingSettings,
  ProbeFailure,
  probeChannel,
  publishBatch,
  RunClients,
  runClock,
  type GatewayNodeTarget,
} from "../src/probe-runtime/index.ts";

/** Settings: `protocol` and its connection, `channel` (default "pulseboard.probe.pubsub"), `messages` per run (1-50, default 3), `nodes`, `admin`. */
const settingsSchema = fleetMessagingSettings("pubsub", ["channels"], "pulseboard.probe.pubsub", { max: 50, default: 3 });

/** Which ordered node pair each probe takes next, so every pair gets its turn over time. */
const nextTurn = new Map<string, number>();

/**
 * Subscribes on one node and publishes on another, so the message has to
 * cross the broker's nodes (through our gateway's cache Redis, a Socket.IO
 * app's adapter, a NATS cluster's routes) to arrive. Publishes a few
 * messages back to back and checks they all arrive, once, in order; on our
 * gateway also with consecutive serials of one epoch. Each run takes the
 * next ordered pair of nodes (subscribe on node-0 and publish on node-1,
 * then the other way, …), so over time every node has delivered to every
 * other. Phases name the nodes: connect, upgrade and handshake per node,
 * subscribe, publish, deliver. The latency is the slowest publish → deliver time.
 */
export default defineProbe({
  kind: "pubsub",
  description: "Publish on one node, deliver on another: cross-node delivery, latency and order",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const clock = runClock(ctx);
    const { nodes, source, bypass } = await brokerNodes(settings, ctx);
    // Without the cache nothing crosses our gateway's nodes: check that each node still delivers to its own clients.
    const [subscriberNode, publisherNode] = nextPair(ctx.probe, nodes, bypass === true);
    const route = `${publisherNode.id} → ${subscriberNode.id}`;
    const crosses = subscriberNode.url !== publisherNode.url;
    const channel = probeChannel(settings.channel, ctx.probe, ctx.location, settings.protocol);
    const clients = new RunClients(settings, ctx);
    try {
      const subscriber = await clients.open(subscriberNode);
      const subscribed = await ctx.phase(`subscribe ${subscriberNode.id}`, () => subscriber.subscribe(channel));
      const publisher = await clients.open(publisherNode);
      const run = Math.random().toString(36).slice(2, 10);
      const seqs = Array.from({ length: settings.messages }, (_, i) => i);
      const sent = await ctx.phase(`publish ${publisherNode.id}`, () => publishBatch(publisher, channel, run, seqs, clock.left()));
      const arrived = await ctx.phase(`deliver ${route}`, async () => {
        const messages = await collectDeliveries(subscriber, channel, run, sent.ids.length, sent.positioned, clock);
        const received = messages.map((m) => deliveredId(m, run, sent.positioned));
        const serialProblems = sent.positioned ? [...firstSerialProblems(subscribed.position, sent.ids), ...continuityProblems(sent.ids)] : [];
        const problems = [...serialProblems, ...deliveryProblems(sent.ids, received)];
        if (problems.length > 0) throw new ProbeFailure(`${problems.join("; ")} (channel ${channel}${crosses ? `; cross-node delivery ${route} failed` : ""})`);
        return messages;
      });
      const sentAt = new Map(sent.ids.map((id, i) => [id, sent.sentAt[i]!]));
      const latencies = arrived.map((m) => round(m.receivedAt - sentAt.get(deliveredId(m, run, sent.positioned))!));
      return {
        status: bypass ? "degraded" : "ok",
        latencyMs: Math.max(...latencies),
        ...(bypass ? { error: `${BYPASS_NOTE}; ${subscriberNode.id} delivered its own publishes` } : {}),
        details: {
          protocol: settings.protocol,
          subscriber: subscriberNode.id,
          publisher: publisherNode.id,
          nodes_from: source,
          cross_node: crosses,
          cache_bypassed: bypass === true,
          channel,
          ...(sent.positioned ? { serials: sent.ids } : { messages: sent.ids.length }),
          latency_ms: latencies,
        },
      };
    } finally {
      clients.closeAll();
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
