import type { GatewayConfig } from "../config/index.ts";
import type { CacheMode } from "./broker.ts";
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
  "cache-mode": { args: { mode: CacheMode }; result: { mode: CacheMode } };
  fault: { args: Fault; result: { applied: string } };
}
export type NodeOp = keyof NodeOps;

/** What a node runs with, from its primary: a node never loads the configuration itself. */
export interface NodeSettings {
  gateway: GatewayConfig;
  cacheUrl?: string;
  logLevel: string;
}

export type ToNode =
  | { type: "assign"; index: number; mode: CacheMode; settings: NodeSettings }
  | { type: "request"; id: number; op: NodeOp; args: unknown }
  /** A message another node published in bypass mode. */
  | { type: "relay"; channel: string; data: string }
  | { type: "stop" };

export type FromNode =
  | { type: "hello" }
  | { type: "ready"; index: number; port: number; ownPort?: number }
  /** A message published here in bypass mode, for the other nodes. */
  | { type: "relay"; channel: string; data: string }
  | { type: "reply"; id: number; ok: true; result: unknown }
  | { type: "reply"; id: number; ok: false; error: string };
