import { ValidationError } from "../core/index.ts";
import {
  FLEET_ACTIONS,
  FleetConfigError,
  FleetNodeNotFound,
  FleetValidationError,
  type ActionOutcome,
  type CacheMode,
  type FleetAction,
  type FleetDriver,
  type FleetError,
  type RestartTarget,
} from "../fleet/index.ts";

/**
 * What the admin API (/admin/api/fleet) and the console's fleet page both
 * do with the fleet: read it and give it orders, always through the
 * configured fleet driver (never the gateway's own code), so a `kubernetes`,
 * `http` or `command` fleet shows and acts the same way as the embedded one.
 */

/** How the web role reaches the fleet: the configured driver, or why it has none. */
export type FleetAccess = { driver: FleetDriver } | { problem: string };

/** A web app built without a fleet driver (tests, tools): its fleet pages say so. */
export const NO_FLEET = (): FleetAccess => ({ problem: "this web process was started without a fleet driver" });

/** How long a read of the fleet may take before a page says it could not read it. */
export const FLEET_READ_MS = 5_000;
/** How long an order may take: a rolling restart drains and restarts every node in turn. */
export const FLEET_ORDER_MS = 120_000;

/** One node as the admin API lists it (snake_case, like the rest of the API). */
export interface FleetNodeView {
  id: string;
  state: string;
  connections: number | null;
  intake: "open" | "closed" | null;
  restarts: number | null;
  safeguard_stuck: boolean | null;
  started_at: string | null;
  address: string | null;
}

/** The fleet as GET /admin/api/fleet answers it. */
export interface FleetOverview {
  driver: string;
  cache_mode: CacheMode | null;
  connections: number;
  limit: number | null;
  /** The orders this driver is set up for. */
  actions: FleetAction[];
  nodes: FleetNodeView[];
}

/** An order for the fleet, as the driver takes it. */
export type FleetOrder = { action: "restart"; target: RestartTarget } | { action: "scale"; replicas: number } | { action: "cache_mode"; mode: CacheMode };

export const CACHE_MODES: readonly CacheMode[] = ["normal", "bypass"];
/** Far past any fleet a scale order may name; the driver's own min/max_replicas decide within it. */
const MAX_NODES = 1_000;

/** What each action does, in words for refusals. */
const DOING: Record<FleetAction, string> = { restart: "restart nodes", scale: "scale the fleet", cache_mode: "switch the cache mode" };

/** The orders `driver` is set up for. */
export function actionsOf(driver: FleetDriver): FleetAction[] {
  return [...(driver.actions ?? FLEET_ACTIONS)];
}

/** The fleet now: cache mode, connections against the limit, each node's state, connections, intake and restarts. */
export async function fleetOverview(driver: FleetDriver, timeoutMs = FLEET_READ_MS): Promise<FleetOverview> {
  const stats = await driver.stats({ signal: AbortSignal.timeout(timeoutMs), dryRun: false });
  return {
    driver: driver.kind,
    cache_mode: stats.cacheMode ?? null,
    connections: stats.connections,
    limit: stats.limit ?? null,
    actions: actionsOf(driver),
    nodes: stats.nodes.map((n) => ({
      id: n.id,
      state: n.state,
      connections: n.connections ?? null,
      intake: n.intake ?? null,
      restarts: n.restarts ?? null,
      safeguard_stuck: n.safeguardStuck ?? null,
      started_at: n.startedAt ?? null,
      address: n.address ?? null,
    })),
  };
}

/**
 * Carries out `order` through the driver (or, with `dryRun`, asks the
 * driver what it would do, changing nothing). An order the driver is not set
 * up for is a FleetConfigError before anything is sent.
 */
export function carryOut(driver: FleetDriver, order: FleetOrder, dryRun: boolean, timeoutMs = FLEET_ORDER_MS): Promise<ActionOutcome> {
  if (!actionsOf(driver).includes(order.action)) {
    return Promise.reject(new FleetConfigError(`the ${driver.kind} fleet driver is not set up to ${DOING[order.action]} (fleet.${order.action} is not set)`));
  }
  const call = { signal: AbortSignal.timeout(timeoutMs), dryRun };
  if (order.action === "restart") return driver.restart(order.target, call);
  if (order.action === "scale") return driver.scale(order.replicas, call);
  return driver.setCacheMode(order.mode, call);
}

/** `nodes` of a scale order (a JSON number or a form's digits); a ValidationError names `field`. */
export function replicasOf(value: unknown, field = "nodes"): number {
  const replicas = typeof value === "number" ? value : typeof value === "string" && /^\s*\d{1,4}\s*$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_NODES) {
    throw new ValidationError([`${field}: expected a whole number of nodes from 1 to ${MAX_NODES}${typeof value === "string" && value !== "" ? `, not ${quoted(value)}` : ""}`]);
  }
  return replicas;
}

/** `mode` of a cache-mode order; a ValidationError names `field`. */
export function cacheModeOf(value: unknown, field = "mode"): CacheMode {
  if (typeof value === "string" && (CACHE_MODES as readonly string[]).includes(value)) return value as CacheMode;
  throw new ValidationError([`${field}: expected "normal" or "bypass"${typeof value === "string" && value !== "" ? `, not ${quoted(value)}` : ""}`]);
}

/** The HTTP status a fleet failure answers with: the node or the order is wrong (4xx), our setup is (503), or the platform failed (502). */
export function fleetErrorStatus(err: FleetError): number {
  if (err instanceof FleetNodeNotFound) return 404;
  if (err instanceof FleetValidationError) return 400;
  if (err instanceof FleetConfigError) return 503;
  return 502;
}

/** A value as a refusal quotes it: short, so a 1 MiB mistake is named in a line, not pasted back. */
function quoted(value: string): string {
  return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
}
