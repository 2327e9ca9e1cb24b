import { z } from "zod";
import { optionalDuration } from "./common.ts";
import { defineStep } from "./types.ts";

const configSchema = z.strictObject({
  /** @defaultValue 30s */
  timeout: optionalDuration(30_000),
});

/**
 * Switches the gateway to bypass mode: node-local history and fan-out, so a
 * clogged cache no longer takes the realtime service down with it (degraded:
 * cross-node delivery stops). Setting a mode twice is harmless: repeatable.
 */
export default defineStep({
  action: "bypass-cache",
  description: "switch the gateway to bypass mode (node-local history and fan-out)",
  configSchema,
  resume: "repeat",
  timeoutMs: (s) => s.timeout,
  describe: () => "switch the gateway to bypass mode",
  async run(_s, ctx) {
    const outcome = await ctx.fleet.setCacheMode("bypass", { signal: ctx.signal, dryRun: ctx.dryRun });
    return { ok: true, summary: outcome.summary, details: outcome.details };
  },
});
