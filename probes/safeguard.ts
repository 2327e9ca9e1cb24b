import { z } from "zod";
import {
  anyUrlSetting,
  attemptConnection,
  checkCanary,
  describeAttempt,
  defineProbe,
  durationSetting,
  gatewayAdminSetting,
  gatewaySafeguard,
  ProbeFailure,
  probeChannel,
  realtimeChannelSetting,
  realtimeSettings,
  runClock,
  type Attempt,
  type BrokerLoad,
  type CanaryCheck,
  type RealtimeSettings,
} from "../src/probe-runtime/index.ts";

const settingsSchema = realtimeSettings("safeguard", [], {
  /** Our gateway's fleet admin API (GET /stats). @defaultValue the managed gateway's */
  admin: gatewayAdminSetting.optional(),
  /** Another broker's nodes, one URL each. @defaultValue its `url` */
  nodes: z.array(anyUrlSetting).min(1).optional(),
  /** The canary's channel (room, topic, subject); the probe id and location are appended. @defaultValue "pulseboard.probe.canary" */
  channel: realtimeChannelSetting.default("pulseboard.probe.canary"),
  /** How long a node may take to welcome a new connection. @defaultValue what is left of the run's timeout */
  connect_within: durationSetting().optional(),
  /**
   * A node refusing with at least this share of its limit in use is at its
   * limit (degraded: the safeguard doing its job); below it, refusing is the
   * lock-up (failed). @defaultValue 0.9
   */
  near_limit: z.number().gt(0).max(1).default(0.9),
  /**
   * Another broker's configured connection limit per node (Mosquitto's
   * `max_connections`, NATS's `max_connections`): with the broker's own
   * client count (MQTT $SYS, NATS monitoring), a refusal under it is the
   * lock-up and one at it is a full broker. @defaultValue the broker's own report, where it gives one
   */
  max_connections: z.int().min(1).optional(),
}).superRefine((value, ctx) => {
  if (value.protocol === "pulseboard") {
    for (const field of ["nodes", "max_connections"] as const) {
      if (value[field] !== undefined) ctx.addIssue({ code: "custom", path: [field], message: `our gateway lists its nodes and limits in its admin API: remove ${field}` });
    }
  } else if (value.admin) {
    ctx.addIssue({ code: "custom", path: ["admin"], message: `the gateway admin API is our gateway's; a ${value.protocol} broker has none: remove admin` });
  }
});


/**
 * Watches a broker's connection safeguard the way the 3.5-hour chat outage
 * needed: a node whose existing clients work but which refuses every new
 * one. On our gateway, reads the fleet admin API's stats and opens a fresh
 * connection to each node. On any other broker, keeps one long-lived canary
 * connection per node (subscribed, echoing every run) and opens a fresh
 * connection beside it: canary fine and the fresh one refused or stalled is
 * the lock-up (failed, in those words); both failing is the node down; a
 * refusal with the broker's client count at its limit is a full broker
 * (degraded), under it the lock-up. Phases: canary, new connections, load.
 */
export default defineProbe({
  kind: "safeguard",
  description: "Connection safeguard: each node still lets a new client in while its existing ones work, unless it is really full",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    if (settings.protocol === "pulseboard") return gatewaySafeguard(settings, ctx);
    const clock = runClock(ctx);
    const urls = settings.nodes ?? [settings.url!];
    const nodes = urls.map((url, i) => ({ id: `node-${i}`, url }));
    const channel = probeChannel(settings.channel, ctx.probe, ctx.location, settings.protocol);
    const key = `${ctx.probe}|${ctx.location}`;
    const canaries = await ctx.phase("canary", () => Promise.all(nodes.map((n) => checkCanary(key, settings, { url: n.url, name: n.id }, channel, clock.left() / 2))));
    const within = Math.min(settings.connect_within ?? Number.POSITIVE_INFINITY, clock.left());
    const attempts = await ctx.phase("new connections", () => Promise.all(nodes.map((n) => attemptConnection(settings, { url: n.url, name: n.id }, within, ctx.signal))));
    const loads = await ctx.phase("load", () => Promise.all(canaries.map((c) => brokerLoad(settings, c, ctx.signal, clock.left()))));

    const failed: string[] = [];
    const degraded: string[] = [];
    const perNode: Record<string, unknown> = {};
    nodes.forEach((node, i) => {
      const [canary, fresh, load] = [canaries[i]!, attempts[i]!, loads[i]];
      const limit = settings.max_connections ?? load?.limit;
      const verdict = judge(node.id, canary, fresh, { connections: load?.connections, limit, source: load?.source }, settings.near_limit);
      if (verdict.failed) failed.push(verdict.failed);
      if (verdict.degraded) degraded.push(verdict.degraded);
      perNode[node.id] = { canary: canary.ok ? { echo_ms: canary.ms, reopened: canary.fresh } : { error: canary.error }, ...fresh, connections: load?.connections ?? null, limit: limit ?? null, counted_by: load?.source ?? null };
    });
    const details = { protocol: settings.protocol, nodes: perNode };
    if (failed.length > 0) throw new ProbeFailure([...failed, ...degraded].join("; "), { details });
    const times = attempts.flatMap((a) => (a.outcome === "welcomed" ? [a.ms] : []));
    if (degraded.length > 0) return { status: "degraded", error: degraded.join("; "), details, latencyMs: Math.max(0, ...times) };
    return { status: "ok", latencyMs: Math.max(0, ...times), details };
  },
});

/** The broker's client count through the canary, where the protocol can tell; undefined otherwise. */
async function brokerLoad(settings: RealtimeSettings, canary: CanaryCheck, signal: AbortSignal, withinMs: number): Promise<BrokerLoad | undefined> {
  if (!settings.adapter.load || !canary.client) return undefined;
  try {
    return await settings.adapter.load(canary.client, { protocolSettings: settings.protocolSettings, signal, withinMs: Math.min(2_000, withinMs) });
  } catch {
    return undefined;
  }
}

/** The verdict on one node from its canary, its fresh connection and the broker's count. */
function judge(node: string, canary: CanaryCheck, fresh: Attempt, load: { connections?: number; limit?: number; source?: string }, nearLimit: number): { failed?: string; degraded?: string } {
  const tried = describeAttempt(fresh);
  const counted = load.connections !== undefined && load.limit !== undefined;
  const count = counted ? `${load.connections} of ${load.limit} connections (${load.source})` : "";
  const atLimit = counted && load.connections! >= load.limit! * nearLimit;
  if (fresh.outcome === "welcomed") {
    if (!canary.ok) return { degraded: `${node}: new clients get in, but ${canary.error}` };
    return atLimit ? { degraded: `${node} is near its connection limit: ${count}` } : {};
  }
  if (!canary.ok) return { failed: `${node} is down: ${canary.error}; a new connection ${tried}` };
  const existing = `existing clients still work (the canary echoed in ${canary.ms} ms)`;
  if (atLimit) return { degraded: `${node} is full: ${count}; it refuses new clients while ${existing}. A new connection ${tried}` };
  if (counted) return { failed: `${node} refuses new connections with room to spare (${count}) while ${existing}: the safeguard lock-up; restart the broker. A new connection ${tried}` };
  if (fresh.outcome === "refused" && fresh.refusal.full) {
    return { degraded: `${node} says it is full and refuses new clients while ${existing}. A new connection ${tried}. Set max_connections (and a way to count clients) to tell a full broker from a locked one` };
  }
  return { failed: `${node}: ${existing}, but a new connection ${tried}: the safeguard lock-up's signature (nobody new gets in); restart the broker` };
}
