import { z } from "zod";
import { FleetConfigError, FleetNodeNotFound } from "./errors.ts";
import { failingReason, GatewayAdminClient, isFailing, toFleetNode, type AdminNode, type AdminRestart, type AdminStats } from "./gateway-admin.ts";
import { checkReplicaLimits, checkReplicas, httpUrl, NOTHING_CHANGED, plural, replicaLimits, took, tokenSetting } from "./settings.ts";
import { defineFleetDriver, type ActionOutcome, type CacheMode, type DriverCall, type FleetDriver, type FleetStats, type RestartTarget } from "./types.ts";

/** The embedded fleet is one Node cluster on one machine; its admin API refuses more than this. */
const LOCAL_MAX_NODES = 64;

const configSchema = z
  .strictObject({
    /** The fleet's admin API. @defaultValue gateway.admin_url */
    admin_url: httpUrl.optional(),
    /** Its bearer token. @defaultValue gateway.admin_token (`start` generates one) */
    admin_token: tokenSetting.optional(),
    ...replicaLimits,
    max_replicas: replicaLimits.max_replicas.refine((n) => n <= LOCAL_MAX_NODES, { error: `the embedded fleet runs at most ${LOCAL_MAX_NODES} nodes` }),
  })
  .superRefine(checkReplicaLimits);

type LocalSettings = z.output<typeof configSchema>;

/**
 * The embedded gateway fleet (`pulseboard gateway`), driven through its admin
 * API: restart drains a node (its clients get 1012 and reconnect to the
 * others), scale forks or retires nodes, cache mode switches every node.
 */
export default defineFleetDriver({
  kind: "local",
  description: "the embedded gateway fleet, through its admin API",
  configSchema,
  create(settings, ctx): FleetDriver {
    const url = settings.admin_url ?? ctx.gatewayAdmin?.url;
    if (!url) throw new FleetConfigError("the local fleet driver needs the gateway admin API: set gateway.admin_url (or fleet.admin_url)");
    const admin = new GatewayAdminClient({ url, token: settings.admin_token ?? ctx.gatewayAdmin?.token });
    return new LocalFleet(admin, settings);
  },
});

class LocalFleet implements FleetDriver {
  readonly kind = "local";

  constructor(
    private readonly admin: GatewayAdminClient,
    private readonly settings: LocalSettings,
  ) {}

  async nodes(call: DriverCall) {
    return (await this.listNodes(call)).map(toFleetNode);
  }

  async stats(call: DriverCall): Promise<FleetStats> {
    const stats = await this.admin.get<AdminStats>("/stats", call.signal);
    const limits = stats.nodes.map((n) => n.stats?.safeguard.limit);
    return {
      nodes: stats.nodes.map(toFleetNode),
      connections: stats.total.connections,
      limit: limits.every((l) => l !== undefined) ? limits.reduce((a, b) => a + b, 0) : undefined,
      cacheMode: stats.mode,
    };
  }

  restart(target: RestartTarget, call: DriverCall): Promise<ActionOutcome> {
    if ("node" in target) return this.restartNode(target.node, call);
    if ("failing" in target) return this.restartFailing(call);
    return this.restartRolling(call);
  }

  async scale(replicas: number, call: DriverCall): Promise<ActionOutcome> {
    checkReplicas(replicas, this.settings);
    const before = await this.listNodes(call);
    const from = before.length;
    if (from === replicas) return { summary: `The gateway fleet already runs ${plural(replicas, "node")}; nothing to scale.`, dryRun: call.dryRun, details: { from, to: replicas } };
    if (call.dryRun) return { summary: `Would scale the gateway fleet from ${from} to ${plural(replicas, "node")}. ${NOTHING_CHANGED}`, dryRun: true, details: { from, to: replicas } };
    const started = Date.now();
    const after = await this.admin.post<{ nodes: AdminNode[] }>("/scale", { nodes: replicas }, call.signal);
    const ids = after.nodes.map((n) => n.id);
    return {
      summary: `Scaled the gateway fleet from ${from} to ${plural(ids.length, "node")} (${ids.join(", ")}) in ${took(Date.now() - started)}.`,
      dryRun: false,
      details: { from, to: replicas, nodes: ids },
    };
  }

  async setCacheMode(mode: CacheMode, call: DriverCall): Promise<ActionOutcome> {
    const stats = await this.admin.get<AdminStats>("/stats", call.signal);
    const count = plural(stats.nodes.length, "node");
    if (call.dryRun) {
      return { summary: `Would switch the gateway cache mode from ${stats.mode} to ${mode} on ${count}. ${NOTHING_CHANGED}`, dryRun: true, details: { from: stats.mode, to: mode } };
    }
    const result = await this.admin.post<{ mode: CacheMode; nodes: Record<string, string> }>("/cache-mode", { mode }, call.signal);
    const failed = Object.entries(result.nodes).filter(([, outcome]) => outcome !== "ok");
    const switched = Object.keys(result.nodes).length - failed.length;
    const trouble = failed.length > 0 ? ` ${failed.map(([node, why]) => `${node} did not switch (${why})`).join("; ")}.` : "";
    return {
      summary: `Switched the gateway cache mode from ${stats.mode} to ${mode} on ${switched} of ${count}.${trouble}`,
      dryRun: false,
      details: { from: stats.mode, to: mode, nodes: result.nodes },
    };
  }

  private async restartNode(node: string, call: DriverCall): Promise<ActionOutcome> {
    const nodes = await this.listNodes(call);
    const found = nodes.find((n) => n.id === node);
    if (!found) throw new FleetNodeNotFound(node, nodes.map((n) => n.id));
    const clients = found.connections === null ? "" : `, ${plural(found.connections, "client")}`;
    if (call.dryRun) {
      return { summary: `Would restart ${node} (${found.state}${clients}); its clients would reconnect to the other nodes. ${NOTHING_CHANGED}`, dryRun: true, details: { nodes: [node] } };
    }
    const done = await this.restartOne(node, nodes, call);
    return { summary: `Restarted ${node}: ${describeRestart(done)}.`, dryRun: false, details: { restarted: [done] } };
  }

  private async restartFailing(call: DriverCall): Promise<ActionOutcome> {
    const stats = await this.admin.get<AdminStats>("/stats", call.signal);
    const failing = stats.nodes.filter(isFailing);
    const named = failing.map((n) => `${n.id} (${failingReason(n)})`).join(", ");
    if (failing.length === 0) {
      return { summary: `No gateway node is failing (${stats.total.ready} of ${plural(stats.total.nodes, "node")} ready); nothing to restart.`, dryRun: call.dryRun, details: { restarted: [] } };
    }
    if (call.dryRun) return { summary: `Would restart ${plural(failing.length, "failing node")}: ${named}. ${NOTHING_CHANGED}`, dryRun: true, details: { nodes: failing.map((n) => n.id) } };
    const done: AdminRestart[] = [];
    // One at a time: the nodes left keep serving while each restarts.
    for (const node of failing) done.push(await this.restartOne(node.id, stats.nodes, call));
    return {
      summary: `Restarted ${plural(done.length, "failing node")}: ${failing.map((n, i) => `${n.id} (${failingReason(n)}; ${describeRestart(done[i]!)})`).join(", ")}.`,
      dryRun: false,
      details: { restarted: done },
    };
  }

  private async restartRolling(call: DriverCall): Promise<ActionOutcome> {
    const nodes = await this.listNodes(call);
    const ids = nodes.map((n) => n.id);
    if (call.dryRun) return { summary: `Would restart all ${plural(ids.length, "node")} one by one (${ids.join(", ")}). ${NOTHING_CHANGED}`, dryRun: true, details: { nodes: ids } };
    const started = Date.now();
    const result = await this.admin.post<{ restarted: AdminRestart[] }>("/restart", {}, call.signal);
    const drained = result.restarted.reduce((sum, r) => sum + r.drained, 0);
    return {
      summary: `Restarted all ${plural(result.restarted.length, "node")} one by one (${result.restarted.map((r) => r.node).join(", ")}); ${plural(drained, "client")} moved, ${took(Date.now() - started)} in all.`,
      dryRun: false,
      details: { restarted: result.restarted },
    };
  }

  private restartOne(node: string, known: { id: string }[], call: DriverCall): Promise<AdminRestart> {
    return this.admin.postOr<AdminRestart>(`/nodes/${encodeURIComponent(node)}/restart`, {}, call.signal, (answer) =>
      answer.status === 404 ? new FleetNodeNotFound(node, known.map((n) => n.id)) : undefined,
    );
  }

  private async listNodes(call: DriverCall): Promise<AdminNode[]> {
    return (await this.admin.get<{ nodes: AdminNode[] }>("/nodes", call.signal)).nodes;
  }
}

function describeRestart(done: AdminRestart): string {
  return `${plural(done.drained, "client")} moved, back in ${took(done.took_ms)}`;
}
