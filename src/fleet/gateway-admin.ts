import { FleetPermissionError, type FleetError } from "./errors.ts";
import { answerError, requestJson, type JsonAnswer } from "./http-json.ts";
import type { CacheMode, FleetNode, GatewayAdminTarget } from "./types.ts";

/** A node as GET /nodes of the gateway admin API lists it (src/gateway/fleet.ts NodeSummary). */
export interface AdminNode {
  id: string;
  port: number;
  state: string;
  connections: number | null;
  /** `closed` while the node is full and routed around; null before the fleet has heard its load. */
  intake?: "open" | "closed" | null;
  restarts: number;
  started_at?: string;
}

/** What GET /stats says of one node; `stats` is null when the node did not answer the fleet. */
export interface AdminNodeStats extends AdminNode {
  stats: { connections: number; mode: CacheMode; safeguard: { limit: number; stuck: boolean; locked: boolean } } | null;
}

/** GET /stats of the gateway admin API. */
export interface AdminStats {
  mode: CacheMode;
  total: { nodes: number; ready: number; connections: number };
  nodes: AdminNodeStats[];
}

/** One node's restart as POST /nodes/:id/restart and POST /restart report it. */
export interface AdminRestart {
  node: string;
  drained: number;
  took_ms: number;
}

/**
 * A small client of the gateway fleet's admin API (src/gateway/fleet-admin.ts):
 * bearer token, JSON both ways, every request bounded by the call's signal.
 */
export class GatewayAdminClient {
  /** Names this admin API in errors and summaries. */
  readonly what: string;

  constructor(private readonly target: GatewayAdminTarget) {
    this.what = `the gateway admin API at ${hostOf(target.url)}`;
  }

  get<T>(pathname: string, signal: AbortSignal): Promise<T> {
    return this.send<T>("GET", pathname, undefined, signal);
  }

  post<T>(pathname: string, body: unknown, signal: AbortSignal): Promise<T> {
    return this.send<T>("POST", pathname, body ?? {}, signal);
  }

  delete<T>(pathname: string, signal: AbortSignal): Promise<T> {
    return this.send<T>("DELETE", pathname, undefined, signal);
  }

  /** Like `post`, but hands a non-2xx answer to `onError` first (a 404 can mean "no such node"). */
  async postOr<T>(pathname: string, body: unknown, signal: AbortSignal, onError: (answer: JsonAnswer) => FleetError | undefined): Promise<T> {
    const url = this.url(pathname);
    const answer = await requestJson({ method: "POST", url, headers: this.headers(), body: body ?? {}, signal, what: this.what });
    if (answer.status >= 200 && answer.status < 300) return answer.json as T;
    throw onError(answer) ?? this.failure("POST", url, answer);
  }

  private async send<T>(method: string, pathname: string, body: unknown, signal: AbortSignal): Promise<T> {
    const url = this.url(pathname);
    const answer = await requestJson({ method, url, headers: this.headers(), body, signal, what: this.what });
    if (answer.status >= 200 && answer.status < 300) return answer.json as T;
    throw this.failure(method, url, answer);
  }

  private failure(method: string, url: string, answer: JsonAnswer): FleetError {
    if (answer.status === 401) {
      return new FleetPermissionError(
        `${this.what} refused the token (401) for ${method} ${new URL(url).pathname}: give the worker the fleet's admin token (gateway.admin_token or GATEWAY_ADMIN_TOKEN; \`pulseboard start\` generates one)`,
      );
    }
    const said = (answer.json as { message?: unknown } | undefined)?.message;
    return answerError(this.what, method, url, answer, typeof said === "string" ? said : undefined);
  }

  private url(pathname: string): string {
    return new URL(pathname.replace(/^\//, ""), this.target.url.replace(/\/?$/, "/")).toString();
  }

  private headers(): Record<string, string> {
    return this.target.token ? { authorization: `Bearer ${this.target.token}` } : {};
  }
}

/** A node of GET /stats as the fleet contract sees it. */
export function toFleetNode(node: AdminNodeStats | AdminNode): FleetNode {
  const stats = "stats" in node ? node.stats : undefined;
  // A ready node that did not answer the fleet's stats call is frozen before its missed pings say so.
  const silent = "stats" in node && node.stats === null && node.state === "ready";
  return {
    id: node.id,
    state: silent ? "unresponsive" : node.state,
    connections: stats?.connections ?? node.connections ?? undefined,
    safeguardStuck: stats ? stats.safeguard.stuck : undefined,
    ...(node.started_at ? { startedAt: node.started_at } : {}),
    ...(node.intake ? { intake: node.intake } : {}),
    restarts: node.restarts,
  };
}

/** Unresponsive (frozen, far behind), or its safeguard refusing clients with room to spare. */
export function isFailing(node: AdminNodeStats): boolean {
  // A ready node that did not answer the fleet's stats call (1 s) is frozen before its missed pings say so.
  return node.state === "unresponsive" || (node.state === "ready" && node.stats === null) || node.stats?.safeguard.stuck === true;
}

/** Why a node counts as failing, in a few words for the timeline. */
export function failingReason(node: AdminNodeStats): string {
  if (node.state === "unresponsive") return "unresponsive";
  return node.stats === null ? "not answering" : "safeguard stuck";
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return url;
  }
}
