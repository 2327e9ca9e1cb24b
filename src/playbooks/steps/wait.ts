import { z } from "zod";
import { durationSetting, formatDuration, sleepUntil } from "./common.ts";
import { defineStep } from "./types.ts";

const configSchema = z.strictObject({
  /** How long to wait. */
  for: durationSetting(),
});

/** Waits, so what the steps before did can take effect. A resumed wait only waits what is left of it. */
export default defineStep({
  action: "wait",
  description: "wait a while",
  configSchema,
  resume: "repeat",
  timeoutMs: (s) => s.for + 5_000,
  describe: (s) => `wait ${formatDuration(s.for)}`,
  async run(s, ctx) {
    if (ctx.dryRun) return { ok: true, summary: `Would wait ${formatDuration(s.for)}. Nothing was changed (dry run).` };
    await sleepUntil(ctx.firstStartedAt + s.for, ctx.signal);
    return { ok: true, summary: `Waited ${formatDuration(s.for)}.` };
  },
});
