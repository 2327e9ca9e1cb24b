import { z } from "zod";
import { atLeastOne, optionalDuration, plural } from "./common.ts";
import { defineStep } from "./types.ts";

const configSchema = z.strictObject({
    /** Nodes to add. @defaultValue 1 */
    by: atLeastOne().default(1),
    /** Never more nodes than this. */
    max: atLeastOne(),
    /** @defaultValue 1m */
    timeout: optionalDuration(60_000),
  });

/** Key of the time of the last scale change, in the target's memory (scale-in's stabilization window). */
export const LAST_SCALED_AT = "last_scaled_at";

/**
 * Adds `by` nodes, up to `max`. The replica count it asks for is remembered
 * before the call, so a resumed step asks for the same count again (an
 * absolute count: repeating it adds nothing).
 */
export default defineStep({
  action: "scale-out",
  description: "add gateway nodes, up to a maximum",
  configSchema,
  resume: "repeat",
  timeoutMs: (s) => s.timeout,
  describe: (s) => `add ${plural(s.by, "gateway node")} (at most ${s.max})`,
  async run(s, ctx) {
    const call = { signal: ctx.signal, dryRun: ctx.dryRun };
    let replicas = typeof ctx.intent?.replicas === "number" ? ctx.intent.replicas : undefined;
    if (replicas === undefined) {
      const current = (await ctx.fleet.nodes(call)).filter((n) => n.state !== "stopped").length;
      replicas = Math.min(s.max, current + s.by);
      if (replicas <= current) {
        return { ok: true, summary: `The gateway fleet already runs ${plural(current, "node")}, its maximum (${s.max}); not scaled out.`, details: { from: current, to: current, at_max: true } };
      }
      if (!ctx.dryRun) await ctx.remember({ replicas, from: current });
    }
    const outcome = await ctx.fleet.scale(replicas, call);
    if (!ctx.dryRun) await ctx.target.set(LAST_SCALED_AT, String(Date.now()));
    return { ok: true, summary: outcome.summary, details: outcome.details };
  },
});
