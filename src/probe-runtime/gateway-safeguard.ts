import { fleetStats, nodeUrl, requireAdmin, type FleetNodeView, type GatewayAdminTarget } from "./gateway-admin.ts";
import { attemptConnection, describeAttempt, type Attempt } from "./realtime/attempt.ts";
import type { RealtimeSettings } from "./realtime/settings.ts";
import { runClock } from "./deadline.ts";
import { ProbeFailure, type ProbeContext, type ProbeReport } from "./types.ts";

/** What the safeguard kind gives the gateway's own check. */
export interface GatewaySafeguardSettings extends RealtimeSettings {
  admin?: GatewayAdminTarget;
  url?: string;
  connect_within?: number;
  near_limit: number;
}

/** Node states the probe judges; a node being started or drained is expected to refuse. */
const JUDGED = new Set(["ready", "unresponsive"]);

/**
 * The safeguard check on our own gateway, the `pulseboard` protocol's extra
 * (the 3.5-hour chat outage): reads GET /stats of the fleet admin API, then
 * opens one fresh connection to each node's own port. Failed (naming the
 * node) when a node does not answer the fleet, refuses while below its
 * limit, or does not welcome the connection in time; degraded when a node
 * refuses because it is at or near its limit, unless the fleet routes the
 * shared port's new clients around it (its intake is closed: another node
 * has room, so nobody is turned away). Phases: stats, new connections.
 */
export async function gatewaySafeguard(settings: GatewaySafeguardSettings, ctx: ProbeContext): Promise<ProbeReport> {
  const clock = runClock(ctx);
  const admin = requireAdmin(ctx.targets, settings.admin, "safeguard");
  const nodes = (await ctx.phase("stats", () => fleetStats(ctx, admin))).filter((n) => JUDGED.has(n.state));
  if (nodes.length === 0) throw new ProbeFailure("the gateway admin API lists no ready node");
  const base = settings.url ?? ctx.targets.gatewayUrl;
  const within = Math.min(settings.connect_within ?? Number.POSITIVE_INFINITY, clock.left());
  const attempts = await ctx.phase("new connections", () => Promise.all(nodes.map((n) => attemptConnection(settings, { url: nodeUrl(base, n.port), name: n.id }, within, ctx.signal))));

  const failed: string[] = [];
  const degraded: string[] = [];
  const perNode: Record<string, unknown> = {};
  nodes.forEach((node, i) => {
    const result = attempts[i]!;
    const verdict = judge(node, result, settings.near_limit);
    if (verdict.failed) failed.push(verdict.failed);
    if (verdict.degraded) degraded.push(verdict.degraded);
    perNode[node.id] = { state: node.state, ...result, connections: node.stats?.safeguard.connections ?? null, limit: node.stats?.safeguard.limit ?? null, intake: node.stats?.intake ?? null };
  });
  if (failed.length > 0) throw new ProbeFailure([...failed, ...degraded].join("; "));
  const times = attempts.flatMap((a) => (a.outcome === "welcomed" ? [a.ms] : []));
  const details = { nodes: perNode };
  if (degraded.length > 0) return { status: "degraded", error: degraded.join("; "), details, latencyMs: Math.max(0, ...times) };
  return { status: "ok", latencyMs: Math.max(0, ...times), details };
}

function judge(node: FleetNodeView, result: Attempt, nearLimit: number): { failed?: string; degraded?: string } {
  const tried = describeAttempt(result);
  if (!node.stats) return { failed: `${node.id} is unresponsive: it did not answer the fleet's stats request (frozen or overloaded); a new connection ${tried}` };
  const { connections, limit, locked, stuck } = node.stats.safeguard;
  const load = `${connections} of ${limit} connections`;
  // Full, and the fleet sends the shared port's new clients to nodes with room: nobody is turned away.
  const routedAround = node.stats.intake === "closed";
  if (result.outcome === "refused") {
    if (connections >= limit * nearLimit && routedAround) return {};
    if (connections >= limit * nearLimit) return { degraded: `${node.id} is at its connection limit (${load}) and refuses new clients: ${tried}` };
    const flags = [locked ? "its safeguard is locked" : "", stuck ? "it reports itself stuck" : ""].filter(Boolean).join(", ");
    return { failed: `${node.id} refuses every new connection with room to spare (${load}${flags ? `; ${flags}` : ""}): the safeguard lock-up; restart the node. A new connection ${tried}` };
  }
  if (result.outcome !== "welcomed") return { failed: `${node.id} (${load}): a new connection ${tried}` };
  if (connections >= limit * nearLimit && !routedAround) return { degraded: `${node.id} is near its connection limit (${load})` };
  return {};
}

