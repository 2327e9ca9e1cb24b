import { z } from "zod";
import type { CacheMode } from "../../fleet/index.ts";
import { optionalDuration } from "./common.ts";
import { defineStep } from "./types.ts";

const configSchema = z.strictObject({
  /** @defaultValue 30s */
  timeout: optionalDuration(30_000),
});

/** A step that sets the gateway's cache mode. Setting a mode twice is harmless: repeatable. */
export function cacheModeStep(action: "bypass-cache" | "restore-cache", mode: CacheMode, description: string, label: string) {
  return defineStep({
    action,
    description,
    configSchema,
    resume: "repeat",
    timeoutMs: (s) => s.timeout,
    describe: () => label,
    async run(_s, ctx) {
      const outcome = await ctx.fleet.setCacheMode(mode, { signal: ctx.signal, dryRun: ctx.dryRun });
      return { ok: true, summary: outcome.summary, details: outcome.details };
    },
  });
}
