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
});

/**
 * Removes `by` nodes (or every node above `min`), down to `min`, once the fleet has not been scaled for
 * the stabilization window (it waits out the rest of the window), so a fleet
 * does not flap between sizes. Remembers the count it asks for, like scale-out.
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
      const current = (await ctx.fleet.nodes(call)).filter((n) => n.state !== "stopped").length;
      replicas = Math.max(s.min, current - (s.by ?? current));
      if (replicas >= current) {
        return { ok: true, summary: `The gateway fleet runs ${plural(current, "node")}, its minimum (${s.min}); not scaled in.`, details: { from: current, to: current, at_min: true } };
      }
      if (!ctx.dryRun) await ctx.remember({ replicas, from: current });
    }
    const outcome = await ctx.fleet.scale(replicas, call);
    if (!ctx.dryRun) await ctx.target.set(LAST_SCALED_AT, String(Date.now()));
    return { ok: true, summary: outcome.summary, details: outcome.details };
  },
});
