import { z } from "zod";
import { atLeastOne, formatDuration, optionalDuration, plural, sleep } from "./common.ts";
import { LAST_SCALED_AT } from "./scale-out.ts";
import { defineStep } from "./types.ts";

const configSchema = z.strictObject({
  /** Nodes to remove. @defaultValue all the way down to `min` */
  by: atLeastOne().optional(),
  /** Never fewer nodes than this. @defaultValue 1 */
  min: atLeastOne().default(1),
  /** No scale-in until this long after the fleet was last scaled. @defaultValue 5m */
  stabilization: optionalDuration(5 * 60_000),
  /**
   * Share of the remaining nodes' connection limits the connections may fill
   * once the fleet is smaller: fewer nodes are removed (or none) when the
   * clients still there would fill more, so a scale-in does not bring back
   * the surge that scaled the fleet out. Ignored when the limits are unknown.
   * @defaultValue 0.6
   */
  max_load: z.number().gt(0).max(1).default(0.6),
});

/** The fewest nodes that keep `connections` within `maxLoad` of their limits; undefined when the limits are unknown. */
export function nodesNeeded(stats: { nodes: unknown[]; connections: number; limit?: number }, maxLoad: number): number | undefined {
  if (!stats.limit || stats.nodes.length === 0) return undefined;
  const perNode = stats.limit / stats.nodes.length;
  return Math.ceil(stats.connections / (perNode * maxLoad));
}

/**
 * Removes `by` nodes (or every node above `min`), down to `min`, once the fleet has not been scaled for
 * the stabilization window (it waits out the rest of the window), so a fleet
 * does not flap between sizes, and never below what the clients still
 * connected need (`max_load`). Remembers the count it asks for, like scale-out.
 */
export default defineStep({
  action: "scale-in",
  description: "remove gateway nodes, down to a minimum, after a stabilization window",
  configSchema,
  resume: "repeat",
  timeoutMs: (s) => s.stabilization + 60_000,
  describe: (s) => `${s.by === undefined ? "scale the gateway in" : `remove ${plural(s.by, "gateway node")}`} down to at least ${plural(s.min, "node")} once stable for ${formatDuration(s.stabilization)}`,
  async run(s, ctx) {
    const call = { signal: ctx.signal, dryRun: ctx.dryRun };
    let replicas = typeof ctx.intent?.replicas === "number" ? ctx.intent.replicas : undefined;
    if (replicas === undefined) {
      const last = Number((await ctx.target.get(LAST_SCALED_AT)) ?? 0);
      const wait = last + s.stabilization - Date.now();
      if (wait > 0 && !ctx.dryRun) {
        ctx.log.info({ waitMs: wait }, "scale-in waits for the stabilization window");
        await sleep(wait, ctx.signal);
      }
      const stats = await ctx.fleet.stats(call);
      const current = stats.nodes.filter((n) => n.state !== "stopped").length;
      const needed = nodesNeeded(stats, s.max_load) ?? 0;
      replicas = Math.max(s.min, current - (s.by ?? current), needed);
      const details = { from: current, to: replicas, connections: stats.connections, needed };
      if (replicas >= current && current > s.min) {
        // The clients still here need every node: scaling in now would bring the surge back.
        const summary = `Not scaled in yet: the gateway fleet's ${stats.connections} connections need all ${plural(current, "node")} to stay under ${Math.round(s.max_load * 100)} % of the connection limit.`;
        return { ok: true, defer: true, summary, details: { ...details, to: current } };
      }
      if (replicas >= current) {
        return { ok: true, summary: `The gateway fleet runs ${plural(current, "node")}, its minimum (${s.min}); not scaled in.`, details: { ...details, at_min: true } };
      }
      if (needed > Math.max(s.min, current - (s.by ?? current))) {
        ctx.log.info({ needed, current, connections: stats.connections }, "scale-in keeps the nodes the connected clients need");
      }
      if (!ctx.dryRun) await ctx.remember({ replicas, from: current });
    }
    const outcome = await ctx.fleet.scale(replicas, call);
    if (!ctx.dryRun) await ctx.target.set(LAST_SCALED_AT, String(Date.now()));
    return { ok: true, summary: outcome.summary, details: outcome.details };
  },
});
