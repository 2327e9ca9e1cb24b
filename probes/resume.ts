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

/**
 * Settings: `channel` (default "pulseboard.probe.resume"), `nodes`, `admin`,
 * and `messages` (1-1000, default 5) published while the client is away,
 * back to back on one connection: keep it within the gateway's publish burst
 * (200 by default) and its history size (1000 by default), or the run fails
 * by design.
 */
const settingsSchema = fleetMessagingSettings("pulseboard.probe.resume", { max: 1_000, default: 5 });

/** Which node each probe starts on next, so every node is left from and resumed on over time. */
const nextTurn = new Map<string, number>();

/**
 * What a client does after its network drops: it subscribes, loses its
 * connection, misses messages, reconnects — to another node when there is
 * one — and resumes from the last serial it saw. Fails, naming each problem,
 * if the gateway says recovered:false, or if any message published while it
 * was away is missing, repeated or out of order in the replay. Phases name
 * the nodes: connect/upgrade/welcome per connection, subscribe, anchor (a
 * first message whose serial is the resume point), publish, resume, replay.
 */
export default defineProbe({
  kind: "resume",
  description: "Drop a subscriber, publish while it is away, resume from its last serial on another node: nothing lost, repeated or reordered",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const clock = runClock(ctx);
    const { nodes, source, bypass } = await ctx.phase("nodes", () => gatewayNodes(ctx, { nodes: settings.nodes, admin: settings.admin }));
    // Without the cache each node holds its own history: resume on the node that was left.
    const [away, back] = nextNodes(ctx.probe, nodes, bypass === true);
    const channel = probeChannel(settings.channel, ctx.probe, ctx.location);
    const run = Math.random().toString(36).slice(2, 10);
    const sessions = new NodeSessions(ctx);
    const open = (node: GatewayNodeTarget) => sessions.open(node);
    try {
      const first = await open(away);
      await ctx.phase(`subscribe ${away.id}`, () => first.request({ type: "subscribe", channel, id: "s1" }, (f) => f.type === "subscribed"));
      const since = await ctx.phase(`anchor ${away.id}`, () => anchor(first, channel, run, clock));
      first.close();

      const publisher = await open(away);
      const seqs = Array.from({ length: settings.messages }, (_, i) => i + 1);
      const published = await ctx.phase(`publish ${away.id}`, async () => (await publisher.publishBatch(channel, seqs, (seq) => ({ probe: run, seq }), clock.left())).serials);

      const second = await open(back);
      const resumeStarted = performance.now();
      const subscribed = await ctx.phase(`resume ${back.id}`, async () => {
        const answer = await second.request({ type: "subscribe", channel, since, id: "r1" }, (f) => f.type === "subscribed");
        if (!answer.recovered) throw new ProbeFailure(notRecovered(back.id, since, published.length, channel));
        return answer;
      });
      const replayed = await ctx.phase(`replay ${back.id}`, async () => {
        const frames = await replay(second, channel, published.length, clock);
        const problems = replayProblems(since, subscribed, published, frames);
        if (problems.length > 0) throw new ProbeFailure(`${problems.join("; ")} (channel ${channel}, left ${away.id})`);
        return frames;
      });
      return {
        status: bypass ? "degraded" : "ok",
        ...(bypass ? { error: `${BYPASS_NOTE}; ${back.id} resumed its own clients` } : {}),
        latencyMs: Math.round((replayed.at(-1)?.receivedAt ?? performance.now()) - resumeStarted),
        details: { left: away.id, resumed_on: back.id, nodes_from: source, cache_bypassed: bypass === true, channel, since, replayed: replayed.length, serials: published },
      };
    } finally {
      sessions.closeAll();
    }
  },
});

/** The node to leave and the node to come back to: the next one round, another node when there is one. */
function nextNodes(probe: string, nodes: GatewayNodeTarget[], sameNode: boolean): [GatewayNodeTarget, GatewayNodeTarget] {
  const sorted = [...nodes].sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
  const turn = nextTurn.get(probe) ?? 0;
  nextTurn.set(probe, turn + 1);
  return [sorted[turn % sorted.length]!, sorted[(turn + (sameNode ? 0 : 1)) % sorted.length]!];
}

/** Publishes one message and waits for it to come back: its serial is where the client will resume from. */
async function anchor(session: GatewaySession, channel: string, run: string, clock: RunClock): Promise<string> {
  session.send({ type: "publish", channel, data: { probe: run, seq: 0 }, id: "a1" });
  const ack = await session.nextWithin((f) => f.id === "a1" && (f.type === "ack" || f.type === "error"), clock.left());
  if (!ack) throw new ProbeFailure(`${session.where} did not acknowledge the first publish: the gateway accepted the frame but never stored the message`);
  await session.next((f) => f.type === "message" && f.serial === ack.serial);
  return ack.serial!;
}

/**
 * The replayed messages: up to `count`, then a ping round trip, because the
 * gateway writes a replay in one go and anything repeated in it comes before
 * the pong.
 */
async function replay(session: GatewaySession, channel: string, count: number, clock: RunClock): Promise<GatewayFrame[]> {
  const isMessage = (f: GatewayFrame): boolean => f.type === "message" && f.channel === channel;
  const arrived: GatewayFrame[] = [];
  while (arrived.length < count) {
    const frame = await session.nextWithin(isMessage, clock.left());
    if (!frame) break;
    arrived.push(frame);
  }
  if (arrived.length === count) {
    session.send({ type: "ping", id: "flush" });
    await session.nextWithin((f) => f.type === "pong" && f.id === "flush", clock.left());
  }
  return [...arrived, ...session.takeAll(isMessage)];
}

function notRecovered(node: string, since: string, published: number, channel: string): string {
  return `${node} answered recovered:false to a resume from ${since} on ${channel}: it no longer holds all ${published} messages published while the client was away (history shorter than that, expired, or the cache lost the channel)`;
}

/** Everything wrong with a replay that the gateway said was complete. */
function replayProblems(since: string, subscribed: GatewayFrame, published: string[], replayed: GatewayFrame[]): string[] {
  const problems = continuityProblems([since, ...published]);
  if (subscribed.serial !== published.at(-1)) problems.push(`the channel was at ${subscribed.serial} on resume, but the last publish got ${published.at(-1)}`);
  return [...problems, ...deliveryProblems(published, replayed.map((f) => f.serial ?? "?"))];
}
