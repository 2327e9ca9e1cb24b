import { z } from "zod";
import { didYouMean } from "./closest.ts";
import { durationSchema } from "./duration.ts";
import { shown } from "./issues.ts";

/**
 * How automatic incidents reach customers: `auto` publishes them as the
 * pipeline opens them; `review` opens them as drafts that on-call publishes
 * (or that publish themselves after `review_timeout`).
 */
export const PUBLISH_MODES = ["auto", "review"] as const;
export type PublishMode = (typeof PUBLISH_MODES)[number];

/** Bounds of `review_timeout`: long enough to read a page, short enough that a missed one still reaches customers. */
const REVIEW_TIMEOUT_MIN_MS = 1_000;
const REVIEW_TIMEOUT_MAX_MS = 24 * 3_600_000;

const modeSchema = z.unknown().transform((value, ctx): PublishMode => {
  if (typeof value === "string" && (PUBLISH_MODES as readonly string[]).includes(value)) return value as PublishMode;
  const hint = typeof value === "string" ? didYouMean(value, PUBLISH_MODES) : "";
  ctx.addIssue({ code: "custom", message: `unknown mode ${shown(value)}${hint}; expected "auto" or "review"` });
  return z.NEVER;
});

/** `incidents:` in pulseboard.yaml. */
export const incidentsSchema = z.strictObject({
  /** @defaultValue "auto" (published as they open) */
  publish: modeSchema.default("auto"),
  /** How long a draft waits for a person before it publishes itself. @defaultValue 10m */
  review_timeout: durationSchema("10m")
    .default(10 * 60_000)
    .refine((ms) => ms >= REVIEW_TIMEOUT_MIN_MS && ms <= REVIEW_TIMEOUT_MAX_MS, { error: "must be from 1s to 24h" }),
});
