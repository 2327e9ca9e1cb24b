import type { GatewayConfig } from "../config/index.ts";
import type { CacheMode } from "./broker.ts";
import type { RelayedMessage, SwitchStep } from "./cache-modes.ts";
import type { Fault } from "./node.ts";

/** What a node answers each liveness ping: enough for the primary to route new clients around full nodes. */
export interface NodeLoad {
  at: number;
  connections: number;
  limit: number;
  /** Whether it takes new clients from the shared port. */
  intake: boolean;
}

/** Requests the fleet's primary makes of a node, and what each answers. */
export interface NodeOps {
  ping: { args: Record<string, never>; result: NodeLoad };
  /** Opens or closes the node's intake from the fleet's shared port (its own port stays open). */
  intake: { args: { open: boolean }; result: { open: boolean } };
  stats: { args: Record<string, never>; result: import("./node.ts").NodeStats };
  metrics: { args: Record<string, never>; result: unknown[] };
  drain: { args: Record<string, never>; result: { closed: number } };
  /** One step of a cache-mode switch; the fleet runs each step on every node before the next. `generation`: the switch's start, the same on every node. */
  "cache-mode": { args: { mode: CacheMode; step: SwitchStep; generation: number }; result: { mode: CacheMode } };
  fault: { args: Fault; result: { applied: string } };
}
export type NodeOp = keyof NodeOps;

/** What a node runs with, from its primary: a node never loads the configuration itself. */
export interface NodeSettings {
  gateway: GatewayConfig;
  /** The cache Redis: a URL or a Sentinel group. */
  cacheUrl?: import("../core/index.ts").RedisTarget;
  logLevel: string;
}

export type ToNode =
  | { type: "assign"; index: number; mode: CacheMode; settings: NodeSettings }
  | { type: "request"; id: number; op: NodeOp; args: unknown }
  /** A message another node published in bypass mode (or while the fleet switches cache mode). */
  | ({ type: "relay" } & RelayedMessage)
  | { type: "stop" };

export type FromNode =
  | { type: "hello" }
  | { type: "ready"; index: number; port: number; ownPort?: number }
  /** A message published here in bypass mode (or while the fleet switches cache mode), for the other nodes. */
  | ({ type: "relay" } & RelayedMessage)
  | { type: "reply"; id: number; ok: true; result: unknown }
  | { type: "reply"; id: number; ok: false; error: string };
