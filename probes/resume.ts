import {
  BYPASS_NOTE,
  brokerNodes,
  collectDeliveries,
  continuityProblems,
  defineProbe,
  deliveredId,
  deliveryProblems,
  fleetMessagingSettings,
  isResumable,
  ProbeFailure,
  probeChannel,
  publishBatch,
  RunClients,
  runClock,
  runPayload,
  runSeq,
  within,
  type GatewayNodeTarget,
  type RealtimeClient,
  type RunClock,
} from "../src/probe-runtime/index.ts";

/**
 * Settings: `protocol` and its connection (one that can resume: our gateway,
 * Socket.IO with connection state recovery, MQTT with `mqtt: { clean:
 * false, qos: 1 }`), `channel` (default "pulseboard.probe.resume"), `nodes`,
 * `admin`, and `messages` (1-1000, default 5) published while the client is
 * away, back to back on one connection: keep it within the broker's publish
 * burst and history (our gateway: 200 and 1000 by default), or the run
 * fails by design.
 */
const settingsSchema = fleetMessagingSettings("resume", ["channels", "resume"], "pulseboard.probe.resume", { max: 1_000, default: 5 });

/** Which node each probe starts on next, so every node is left from and resumed on over time. */
const nextTurn = new Map<string, number>();

/**
 * What a client does after its network drops: it subscribes, loses its
 * connection, misses messages, reconnects (to another node where the
 * protocol resumes anywhere, as our gateway does) and resumes. Fails, naming
 * each problem, if the broker says it did not recover the session, or if
 * any message published while it was away is missing, repeated or out of
 * order in the replay. Phases name the nodes: connect/upgrade/handshake per
 * connection, subscribe, anchor (a first message that sets the resume
 * point), publish, resume, replay.
 */
export default defineProbe({
  kind: "resume",
  description: "Drop a subscriber, publish while it is away, resume: nothing lost, repeated or reordered",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const clock = runClock(ctx);
    const { nodes, source, bypass } = await brokerNodes(settings, ctx);
    // Without the cache each node holds its own history; a protocol that resumes only where it left does the same.
    const [away, back] = nextNodes(ctx.probe, nodes, bypass === true || !settings.adapter.capabilities.resumeOnAnyNode);
    const channel = probeChannel(settings.channel, ctx.probe, ctx.location, settings.protocol);
    const run = Math.random().toString(36).slice(2, 10);
    const clients = new RunClients(settings, ctx);
    try {
      const first = await clients.open(away);
      if (!isResumable(first)) throw new ProbeFailure(`the ${settings.protocol} adapter cannot resume`);
      await ctx.phase(`subscribe ${away.id}`, () => first.subscribe(channel));
      const since = await ctx.phase(`anchor ${away.id}`, () => anchor(first, channel, run, clock));
      await first.drop();

      const publisher = await clients.open(away);
      const seqs = Array.from({ length: settings.messages }, (_, i) => i + 1);
      const published = await ctx.phase(`publish ${away.id}`, () => publishBatch(publisher, channel, run, seqs, clock.left()));

      const resumeStarted = performance.now();
      const resumed = await ctx.phase(`resume ${back.id}`, async () => {
        const answer = await first.resume({ url: back.url, name: back.id, label: back.id }, ctx.phase);
        if (!answer.recovered) throw new ProbeFailure(notRecovered(back.id, since, published.ids.length, channel, answer.why));
        return answer;
      });
      const replayed = await ctx.phase(`replay ${back.id}`, async () => {
        const messages = await collectDeliveries(first, channel, run, published.ids.length, published.positioned, clock);
        const received = messages.map((m) => deliveredId(m, run, published.positioned));
        const positionProblems = published.positioned ? resumedPositionProblems(since, resumed.position, published.ids) : [];
        const problems = [...positionProblems, ...deliveryProblems(published.ids, received)];
        if (problems.length > 0) throw new ProbeFailure(`${problems.join("; ")} (channel ${channel}, left ${away.id})`);
        return messages;
      });
      return {
        status: bypass ? "degraded" : "ok",
        ...(bypass ? { error: `${BYPASS_NOTE}; ${back.id} resumed its own clients` } : {}),
        latencyMs: Math.round((replayed.at(-1)?.receivedAt ?? performance.now()) - resumeStarted),
        details: {
          protocol: settings.protocol,
          left: away.id,
          resumed_on: back.id,
          nodes_from: source,
          cache_bypassed: bypass === true,
          channel,
          ...(since ? { since } : {}),
          replayed: replayed.length,
          ...(published.positioned ? { serials: published.ids } : {}),
        },
      };
    } finally {
      clients.closeAll();
    }
  },
});

/** The node to leave and the node to come back to: the next one round, another node when there is one and the protocol resumes anywhere. */
function nextNodes(probe: string, nodes: GatewayNodeTarget[], sameNode: boolean): [GatewayNodeTarget, GatewayNodeTarget] {
  const sorted = [...nodes].sort((a, b) => a.id.localeCompare(b.id, "en", { numeric: true }));
  const turn = nextTurn.get(probe) ?? 0;
  nextTurn.set(probe, turn + 1);
  return [sorted[turn % sorted.length]!, sorted[(turn + (sameNode ? 0 : 1)) % sorted.length]!];
}

/** Publishes one message and waits for it to come back: the client's resume point (its serial, on our gateway). */
async function anchor(client: RealtimeClient, channel: string, run: string, clock: RunClock): Promise<string | undefined> {
  const ack = client.publish(channel, runPayload(run, 0));
  ack.catch(() => {});
  const taken = await within(ack, clock.left());
  if (!taken) throw new ProbeFailure(`${client.where} did not acknowledge the first publish: the broker took the frame but never confirmed it`);
  const back = await client.next(channel, (m) => runSeq(m, run) === 0, clock.left());
  if (!back) throw new ProbeFailure(`${client.where} acknowledged the first publish but never delivered it to its own subscriber`);
  return back.position;
}

function notRecovered(node: string, since: string | undefined, published: number, channel: string, why?: string): string {
  const from = since ? ` from ${since}` : "";
  return `${node} answered recovered:false to a resume${from} on ${channel}: it no longer holds all ${published} messages published while the client was away (${why ?? "history shorter than that, expired, or the cache lost the channel"})`;
}

/** On our gateway: the replay must continue the anchor's serials, and the channel must stand at the last publish. */
function resumedPositionProblems(since: string | undefined, top: string | undefined, published: string[]): string[] {
  const problems = since ? continuityProblems([since, ...published]) : [];
  if (top !== published.at(-1)) problems.push(`the channel was at ${top} on resume, but the last publish got ${published.at(-1)}`);
  return problems;
}
