import { z } from "zod";
import { firstIssue, nodesAnswer, statsAnswer, toNode } from "./answers.ts";
import { FleetConfigError, FleetNodeNotFound, FleetUpstreamError } from "./errors.ts";
import { answerError, requestJson, safeUrl } from "./http-json.ts";
import { checkReplicaLimits, checkReplicas, durationSetting, httpUrl, NOTHING_CHANGED, plural, replicaLimits } from "./settings.ts";
import { defineFleetDriver, FLEET_ACTIONS, type ActionOutcome, type CacheMode, type DriverCall, type FleetAction, type FleetDriver, type FleetNode, type FleetStats, type RestartTarget } from "./types.ts";

const actionEndpoint = z.strictObject({
  url: httpUrl,
  /** @defaultValue POST */
  method: z.enum(["POST", "PUT", "PATCH"]).default("POST"),
});
const readEndpoint = z.strictObject({ url: httpUrl });

const configSchema = z
  .strictObject({
    /** Receives {action: "restart", target: {node} | {failing: true} | {rolling: true}, dry_run}. */
    restart: actionEndpoint.optional(),
    /** Receives {action: "scale", replicas, dry_run}. */
    scale: actionEndpoint.optional(),
    /** Receives {action: "cache_mode", mode: "normal" | "bypass", dry_run}. */
    cache_mode: actionEndpoint.optional(),
    /** GET: {nodes: [{id, state, connections?, safeguard_stuck?, address?}]} (or the bare array). */
    nodes: readEndpoint.optional(),
    /** GET: {connections, limit?, cache_mode?, nodes?}. @defaultValue summed up from `nodes` */
    stats: readEndpoint.optional(),
    /** Sent with every request; write secrets as ${VAR}. */
    headers: z.record(z.string(), z.string()).default({}),
    /** How long one request may take (within the step's own deadline). @defaultValue 30s */
    timeout: durationSetting(30_000),
    ...replicaLimits,
  })
  .superRefine(checkReplicaLimits)
  .refine((s) => s.restart || s.scale || s.cache_mode, { error: "give at least one action endpoint: restart, scale or cache_mode" });

type HttpSettings = z.output<typeof configSchema>;
type Action = "restart" | "scale" | "cache_mode";

/**
 * The user's own automation: one HTTP endpoint per action, each getting a
 * JSON order with `dry_run`, so the endpoint itself decides what a dry run
 * checks. An answer `{ "summary": "…" }` words the incident timeline entry.
 */
export default defineFleetDriver({
  kind: "http",
  description: "your own automation endpoints, one per action",
  configSchema,
  create(settings): FleetDriver {
    return new HttpFleet(settings);
  },
});

class HttpFleet implements FleetDriver {
  readonly kind = "http";

  constructor(private readonly settings: HttpSettings) {}

  /** Only the actions with an endpoint (fleet.restart, fleet.scale, fleet.cache_mode). */
  get actions(): readonly FleetAction[] {
    return FLEET_ACTIONS.filter((action) => this.settings[action] !== undefined);
  }

  async nodes(call: DriverCall): Promise<FleetNode[]> {
    if (!this.settings.nodes) {
      if (this.settings.stats) return (await this.stats(call)).nodes;
      throw new FleetConfigError("the http fleet driver cannot list nodes: set fleet.nodes.url (or fleet.stats.url)");
    }
    return (await this.read("nodes", this.settings.nodes.url, nodesAnswer, call)).map(toNode);
  }

  async stats(call: DriverCall): Promise<FleetStats> {
    if (!this.settings.stats) {
      const nodes = await this.nodes(call);
      return { nodes, connections: nodes.reduce((sum, n) => sum + (n.connections ?? 0), 0) };
    }
    const stats = await this.read("stats", this.settings.stats.url, statsAnswer, call);
    return { nodes: (stats.nodes ?? []).map(toNode), connections: stats.connections, limit: stats.limit, cacheMode: stats.cache_mode };
  }

  async restart(target: RestartTarget, call: DriverCall): Promise<ActionOutcome> {
    if ("node" in target && this.settings.nodes) {
      const nodes = await this.nodes(call);
      if (!nodes.some((n) => n.id === target.node)) throw new FleetNodeNotFound(target.node, nodes.map((n) => n.id));
    }
    const what = "node" in target ? `node ${target.node}` : "failing" in target ? "the failing nodes" : "every node, one by one";
    return this.act("restart", { target }, `restart ${what}`, call);
  }

  async scale(replicas: number, call: DriverCall): Promise<ActionOutcome> {
    checkReplicas(replicas, this.settings);
    return this.act("scale", { replicas }, `scale to ${plural(replicas, "node")}`, call);
  }

  async setCacheMode(mode: CacheMode, call: DriverCall): Promise<ActionOutcome> {
    return this.act("cache_mode", { mode }, `switch the cache mode to ${mode}`, call);
  }

  /** Sends one order; the endpoint's `summary`, else ours, words the outcome. */
  private async act(action: Action, order: Record<string, unknown>, doing: string, call: DriverCall): Promise<ActionOutcome> {
    const endpoint = this.settings[action];
    if (!endpoint) throw new FleetConfigError(`the http fleet driver has no fleet.${action}.url, so it cannot ${doing}`);
    const what = `the ${action} endpoint (${safeUrl(endpoint.url)})`;
    const answer = await requestJson({
      method: endpoint.method,
      url: endpoint.url,
      headers: this.settings.headers,
      body: { action, ...order, dry_run: call.dryRun },
      signal: this.signal(call),
      what,
    });
    if (answer.status < 200 || answer.status >= 300) throw answerError(what, endpoint.method, endpoint.url, answer);
    const said = (answer.json as { summary?: unknown } | undefined)?.summary;
    const theirs = typeof said === "string" && said.trim() ? said.trim().slice(0, 500) : undefined;
    const summary = call.dryRun
      ? `${theirs ?? `${capitalize(what)} accepted a dry run to ${doing}.`} ${NOTHING_CHANGED}`
      : (theirs ?? `${capitalize(what)} accepted the order to ${doing} (${answer.status}).`);
    const details = answer.json && typeof answer.json === "object" && !Array.isArray(answer.json) ? { answer: answer.json } : undefined;
    return { summary, dryRun: call.dryRun, details };
  }

  private async read<T extends z.ZodType>(name: string, url: string, schema: T, call: DriverCall): Promise<z.output<T>> {
    const what = `the ${name} endpoint (${safeUrl(url)})`;
    const answer = await requestJson({ method: "GET", url, headers: this.settings.headers, signal: this.signal(call), what });
    if (answer.status < 200 || answer.status >= 300) throw answerError(what, "GET", url, answer);
    const parsed = schema.safeParse(answer.json);
    if (!parsed.success) {
      throw new FleetUpstreamError(`${what} answered with something that is not the expected JSON (${firstIssue(parsed.error)}): ${answer.text.slice(0, 200)}`, { retryable: false });
    }
    return parsed.data;
  }

  private signal(call: DriverCall): AbortSignal {
    return AbortSignal.any([call.signal, AbortSignal.timeout(this.settings.timeout)]);
  }
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
