import { z } from "zod";
import { optionalDuration } from "./common.ts";
import { defineStep } from "./types.ts";

const configSchema = z.strictObject({
  /** Channels (notifications.channels[].id) to post to. */
  channels: z.array(z.string().min(1)).min(1, { error: "name at least one channel" }),
  /** What to tell them. */
  message: z.string().trim().min(1, { error: "write the message to post" }).max(2_000),
  /** `high` pages someone; `low` informs. @defaultValue low */
  urgency: z.enum(["low", "high"], { error: 'expected "low" or "high"' }).default("low"),
  /** @defaultValue 10s */
  timeout: optionalDuration(10_000),
});

/**
 * Posts a message to chosen channels through the notify pipeline (with its
 * retries and dead-letter list). Posts are keyed by the step, so a resumed
 * step sends nothing twice.
 */
export default defineStep({
  action: "notify",
  description: "post a message to chosen notification channels",
  configSchema,
  resume: "repeat",
  timeoutMs: (s) => s.timeout,
  describe: (s) => `post to ${s.channels.join(", ")}`,
  references: (s) => s.channels.map((id, i) => ({ path: ["channels", i], kind: "channel" as const, id })),
  async run(s, ctx) {
    if (ctx.dryRun) return { ok: true, summary: `Would post to ${s.channels.join(", ")}: "${s.message}". Nothing was changed (dry run).` };
    await ctx.posts.post({
      key: ctx.key,
      channels: s.channels,
      urgency: s.urgency,
      body: `${s.message}\n\n(Playbook ${ctx.run.name}, run ${ctx.run.id}.)`,
      incident: await ctx.incident(),
      title: ctx.run.name,
    });
    return { ok: true, summary: `Posted to ${s.channels.join(", ")}.`, details: { channels: s.channels, urgency: s.urgency } };
  },
});
