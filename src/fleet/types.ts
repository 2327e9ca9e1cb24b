import type { z } from "zod";
import type { Logger } from "../core/index.ts";

/**
 * The fleet driver contract: how playbook steps reach the realtime broker
 * (ARCHITECTURE.md, "Interfaces that stay stable"). One driver per file in
 * src/fleet/, each exporting `{ kind, configSchema, create(settings, ctx) }`.
 */

export type CacheMode = "normal" | "bypass";

/** One gateway node as the driver sees it. */
export interface FleetNode {
  /** Stable within the fleet: `node-0` (local), the pod name (kubernetes), the user's id (http). */
  id: string;
  /** `ready`, `starting`, `draining`, `unresponsive`, `stopped`, or the platform's own word. */
  state: string;
  connections?: number;
  /** Whether the node's connection safeguard says it is stuck (refusing every new client). */
  safeguardStuck?: boolean;
  /** Where the node is reachable alone (`host:port`, a pod's IP), when the driver knows it. */
  address?: string;
  /** When this incarnation of the node started (ISO 8601): a restart changes it. */
  startedAt?: string;
  /** `closed` while the node is full and new clients of the shared port go to nodes with room, when the driver knows it. */
  intake?: "open" | "closed";
  /** How many times the fleet has restarted this node, when the driver counts them. */
  restarts?: number;
}

/** The fleet as a whole, for triggers on gateway stats (connections against the limit, …). */
export interface FleetStats {
  nodes: FleetNode[];
  connections: number;
  /** Sum of the nodes' connection limits, when known. */
  limit?: number;
  cacheMode?: CacheMode;
}

/** What to restart: one node, the nodes that are failing, or every node one by one. */
export type RestartTarget = { node: string } | { failing: true } | { rolling: true };

/** The changes a driver can make to the fleet (its restart, scale and setCacheMode calls). */
export const FLEET_ACTIONS = ["restart", "scale", "cache_mode"] as const;
export type FleetAction = (typeof FLEET_ACTIONS)[number];

/** Every call carries its deadline and whether to only validate (dry run: change nothing). */
export interface DriverCall {
  signal: AbortSignal;
  dryRun: boolean;
}

/** What an action did (or, in a dry run, would do), in words for the incident timeline. */
export interface ActionOutcome {
  summary: string;
  dryRun: boolean;
  details?: Record<string, unknown>;
}

/**
 * A fleet driver bound to its settings. Every call either resolves with what
 * it did or rejects with a FleetError (src/fleet/errors.ts) whose message a
 * person can act on and whose `retryable` says whether trying again can help.
 */
export interface FleetDriver {
  readonly kind: string;
  /**
   * The actions this driver is set up for, so a person is offered only
   * those (the http and command drivers do only the actions they have an
   * endpoint or a command for). @defaultValue every action
   */
  readonly actions?: readonly FleetAction[];
  nodes(call: DriverCall): Promise<FleetNode[]>;
  /**
   * Restarts one node (an unknown id is a FleetNodeNotFound), the failing
   * ones (unresponsive, or their safeguard stuck; none failing is a no-op
   * outcome, not an error), or all of them one after the other.
   */
  restart(target: RestartTarget, call: DriverCall): Promise<ActionOutcome>;
  /**
   * Sets the number of nodes (replicas). Resolves once the platform has
   * accepted the order; whether the new nodes serve is a verify step's job.
   */
  scale(replicas: number, call: DriverCall): Promise<ActionOutcome>;
  setCacheMode(mode: CacheMode, call: DriverCall): Promise<ActionOutcome>;
  stats(call: DriverCall): Promise<FleetStats>;
}

/** Where the embedded gateway fleet's admin API is, from `gateway:` in config. */
export interface GatewayAdminTarget {
  url: string;
  token?: string;
}

/** What a driver gets besides its settings when it is created. */
export interface FleetDriverContext {
  log: Logger;
  /** The gateway's admin API as configured (`gateway.admin_url`, `gateway.admin_token`). */
  gatewayAdmin?: GatewayAdminTarget;
  /** True when Pulseboard itself runs in a Kubernetes pod (KUBERNETES_SERVICE_HOST is set). */
  inCluster?: boolean;
  /** The process environment the role was started with, for drivers that run commands (PATH, HOME, DOCKER_HOST, …). @defaultValue none */
  env?: Record<string, string | undefined>;
}

/**
 * One kind of fleet driver: one file in src/fleet/. `configSchema` validates
 * the `fleet:` section of pulseboard.yaml without its `driver` key.
 */
export interface FleetDriverKind<Settings = unknown> {
  kind: string;
  description: string;
  configSchema: z.ZodType<Settings>;
  /** Binds the driver to its settings; a FleetConfigError when they cannot work (a kubeconfig that does not load, …). */
  create(settings: Settings, ctx: FleetDriverContext): FleetDriver;
}

/** Defines a driver kind with its settings type inferred from the schema. */
export function defineFleetDriver<S extends z.ZodType>(kind: {
  kind: string;
  description: string;
  configSchema: S;
  create(settings: z.output<S>, ctx: FleetDriverContext): FleetDriver;
}): FleetDriverKind<z.output<S>> {
  return kind as FleetDriverKind<z.output<S>>;
}
