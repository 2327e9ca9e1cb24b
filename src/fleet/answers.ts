import { z } from "zod";
import type { FleetNode } from "./types.ts";

/**
 * The JSON a user's own automation answers with when asked for the fleet's
 * nodes or stats: the same shape whether it comes from an HTTP endpoint (the
 * http driver) or a command's stdout (the command driver).
 */

/** One node: `{id, state?, connections?, safeguard_stuck?, address?, started_at?}`; `state` defaults to `ready`. */
export const nodeAnswer = z.object({
  id: z.string().min(1),
  state: z.string().min(1).default("ready"),
  connections: z.number().optional(),
  safeguard_stuck: z.boolean().optional(),
  address: z.string().optional(),
  started_at: z.string().optional(),
});

/** `{nodes: [node, …]}` or the bare array. */
export const nodesAnswer = z.union([z.array(nodeAnswer), z.object({ nodes: z.array(nodeAnswer) }).transform((a) => a.nodes)]);

/** `{connections, limit?, cache_mode?, nodes?}`. */
export const statsAnswer = z.object({
  connections: z.number(),
  limit: z.number().optional(),
  cache_mode: z.enum(["normal", "bypass"]).optional(),
  nodes: z.array(nodeAnswer).optional(),
});

/** A node answer as the FleetNode the contract speaks of. */
export function toNode(node: z.output<typeof nodeAnswer>): FleetNode {
  return { id: node.id, state: node.state, connections: node.connections, safeguardStuck: node.safeguard_stuck, address: node.address, ...(node.started_at ? { startedAt: node.started_at } : {}) };
}

/** The first problem of a parse, as "path: message" for an error a person reads. */
export function firstIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  return `${issue.path.length > 0 ? `${issue.path.join(".")}: ` : ""}${issue.message}`;
}
