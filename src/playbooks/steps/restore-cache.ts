import { z } from "zod";
import { optionalDuration } from "./common.ts";
import { defineStep } from "./types.ts";

const configSchema = z.strictObject({
  /** @defaultValue 30s */
  timeout: optionalDuration(30_000),
});

/** Switches the gateway back to the cache (normal mode). Repeatable: setting a mode twice is harmless. */
export default defineStep({
  action: "restore-cache",
  description: "switch the gateway back to its cache (normal mode)",
  configSchema,
  resume: "repeat",
  timeoutMs: (s) => s.timeout,
  describe: () => "switch the gateway back to its cache",
  async run(_s, ctx) {
    const outcome = await ctx.fleet.setCacheMode("normal", { signal: ctx.signal, dryRun: ctx.dryRun });
    return { ok: true, summary: outcome.summary, details: outcome.details };
  },
});
