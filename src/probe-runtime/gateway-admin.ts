import http from "node:http";
import https from "node:https";
import { describeError } from "../core/index.ts";
import { ProbeFailure, type PlatformTargets, type ProbeContext } from "./types.ts";

/** Where a probe finds the gateway fleet's admin API. */
export interface GatewayAdminTarget {
  url: string;
  token?: string;
}

/** One gateway node as a probe addresses it. */
export interface GatewayNodeTarget {
  /** `node-0`, … (or `node-<i>` by position when only URLs are known). */
  id: string;
  /** ws:// URL of the node's own port. */
  url: string;
  /** The fleet's view (`ready`, `unresponsive`, …), when it came from the admin API. */
  state?: string;
}

/** A node's safeguard health, as GET /stats reports it (see src/gateway/safeguard.ts). */
export interface SafeguardView {
  limit: number;
  connections: number;
  last_accepted_at: string | null;
  refusals_total: number;
  refusals_last_minute: number;
  stuck: boolean;
  locked: boolean;
}

/** One node of GET /stats; `stats` is null when the node did not answer the fleet. */
export interface FleetNodeView {
  id: string;
  index: number;
  port: number;
  state: string;
  stats: {
    connections: number;
    safeguard: SafeguardView;
    cache: { ok: boolean; latency_ms: number | null } | null;
    faults: string[];
    /** `closed` while the fleet routes new clients of the shared port around this (full) node. */
    intake?: "open" | "closed";
  } | null;
}

/** The gateway nodes a probe covers, where the list came from, and whether the fleet bypasses its cache. */
export interface GatewayNodeList {
  nodes: GatewayNodeTarget[];
  source: "settings" | "admin" | "config";
  /**
   * The fleet runs without its cache (the admin API says so): each node keeps
   * its own history and serials, so a check across nodes means nothing
   * until the cache is back.
   */
  bypass?: boolean;
}

/**
 * Said by the probes that cross nodes while the fleet bypasses its cache:
 * they check one node on its own, and a pass is `degraded`, not `ok`.
 */
export const BYPASS_NOTE =
  "the gateway is bypassing its cache: each node keeps its own history and serials, so a client that reconnects to another node cannot resume, and messages cross nodes only where the fleet relays them itself";

/** Node states a probe should cover: a node being drained or started is left alone. */
const LIVE_STATES = new Set(["ready", "unresponsive"]);

/**
 * Calls the fleet admin API and parses its JSON answer. No connection is
 * kept alive, and the request ends with the run's signal or after `withinMs`.
 */
export async function adminGet<T>(admin: GatewayAdminTarget, pathname: string, signal: AbortSignal, withinMs: number): Promise<T> {
  const url = new URL(pathname, admin.url.replace(/\/?$/, "/"));
  const where = `the gateway admin API at ${url.host}`;
  const headers: Record<string, string> = admin.token ? { authorization: `Bearer ${admin.token}` } : {};
  const client = url.protocol === "https:" ? https : http;
  return new Promise<T>((resolve, reject) => {
    const req = client.get(url, { headers, agent: false, signal, timeout: withinMs }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (text += chunk));
      res.on("error", (err) => reject(new ProbeFailure(`${where}: ${describeError(err)}`)));
      res.on("end", () => {
        if (res.statusCode === 401) return reject(new ProbeFailure(`${where} refused the token (401): give the agent the fleet's admin token (GATEWAY_ADMIN_TOKEN)`));
        if (res.statusCode !== 200) return reject(new ProbeFailure(`${where} answered HTTP ${res.statusCode} to GET ${url.pathname}: ${text.slice(0, 200)}`));
        try {
          resolve(JSON.parse(text) as T);
        } catch {
          reject(new ProbeFailure(`${where} answered GET ${url.pathname} with something that is not JSON`));
        }
      });
    });
    req.on("timeout", () => req.destroy(new ProbeFailure(`${where} did not answer GET ${url.pathname} within ${withinMs} ms`)));
    req.on("error", (err) => {
      if (err instanceof ProbeFailure) return reject(err);
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ECONNREFUSED") return reject(new ProbeFailure(`${where} refused the connection: is \`pulseboard gateway\` running?`));
      reject(new ProbeFailure(`${where}: ${describeError(err)}`));
    });
  });
}

/** node i's own URL: the shared URL's scheme, host and path with the node's port. */
export function nodeUrl(gatewayUrl: string, port: number): string {
  const url = new URL(gatewayUrl);
  url.port = String(port);
  return url.toString();
}

/**
 * The gateway nodes to probe: the fleet's live list from its admin API when
 * there is one (the fleet may have been scaled since the config was written),
 * else the configured node URLs. An admin API that fails is logged and the
 * configured URLs are used, so a broken admin API does not hide the nodes.
 */
export async function gatewayNodes(
  ctx: ProbeContext,
  options: { nodes?: string[]; admin?: GatewayAdminTarget | null } = {},
): Promise<GatewayNodeList> {
  if (options.nodes?.length) return { nodes: byPosition(options.nodes), source: "settings" };
  const admin = options.admin === null ? undefined : (options.admin ?? ctx.targets.gatewayAdmin);
  if (admin) {
    try {
      const answer = await adminGet<{ mode?: string; nodes: { id: string; port: number; state: string; intake?: string | null }[] }>(admin, "nodes", ctx.signal, adminWithin(ctx));
      const live = answer.nodes.filter((n) => LIVE_STATES.has(n.state));
      // A full node the fleet routes new clients around takes none: leave it out while others take them.
      const taking = live.filter((n) => n.intake !== "closed");
      const nodes = (taking.length > 0 ? taking : live).map((n) => ({ id: n.id, url: nodeUrl(ctx.targets.gatewayUrl, n.port), state: n.state }));
      if (nodes.length > 0) return { nodes, source: "admin", bypass: answer.mode === "bypass" };
    } catch (err) {
      if (ctx.signal.aborted) throw err;
      ctx.log.warn({ err: describeError(err) }, "gateway admin API unavailable; using the configured node URLs");
    }
  }
  if (ctx.targets.gatewayNodeUrls.length > 0) return { nodes: byPosition(ctx.targets.gatewayNodeUrls), source: "config" };
  return { nodes: [{ id: "gateway", url: ctx.targets.gatewayUrl }], source: "config" };
}

/** GET /stats of the fleet admin API: every node with its safeguard health (null stats: unresponsive). */
export async function fleetStats(ctx: ProbeContext, admin: GatewayAdminTarget): Promise<FleetNodeView[]> {
  // The fleet gives each node a second to answer, so a frozen node makes /stats slow, not absent.
  const within = Math.min(5_000, Math.max(1_500, Math.floor(ctx.timeoutMs / 2)));
  const answer = await adminGet<{ nodes: FleetNodeView[] }>(admin, "stats", ctx.signal, within);
  return answer.nodes;
}

/** The admin target from settings, else the platform's; a ProbeFailure saying what to set when neither exists. */
export function requireAdmin(targets: PlatformTargets, admin: GatewayAdminTarget | undefined, kind: string): GatewayAdminTarget {
  const target = admin ?? targets.gatewayAdmin;
  if (!target) throw new ProbeFailure(`the ${kind} probe reads the gateway admin API: set \`with.admin.url\` (and token), or run it where the gateway's admin URL is configured`);
  return target;
}

/** A fleet that is slow to list its nodes must still leave the run time for its real work. */
function adminWithin(ctx: ProbeContext): number {
  return Math.max(250, Math.min(2_000, Math.floor(ctx.timeoutMs / 3)));
}

function byPosition(urls: string[]): GatewayNodeTarget[] {
  return urls.map((url, i) => ({ id: `node-${i}`, url }));
}
