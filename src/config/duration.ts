import { z } from "zod";
import { shown } from "./issues.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PATTERN = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)$/;

/**
 * Parses a duration such as "500ms", "10s", "1.5m", "2h" or "90d" into
 * milliseconds. Returns undefined for anything else (bare numbers included:
 * "10" could mean seconds or milliseconds, so it is refused).
 */
export function parseDuration(text: unknown): number | undefined {
  if (typeof text !== "string") return undefined;
  const match = PATTERN.exec(text.trim());
  if (!match) return undefined;
  const ms = Number(match[1]) * UNITS[match[2]!]!;
  return Number.isFinite(ms) && ms > 0 ? Math.round(ms) : undefined;
}

/** Formats milliseconds the way a person would write them in config. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1_000]] as const) {
    if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * A zod schema for a duration setting: parses to milliseconds, and says what
 * is wrong with anything else (`example` shows the form, like "10s").
 */
export function durationSchema(example = "10s") {
  return z.unknown().transform((value, ctx) => {
    const ms = parseDuration(value);
    if (ms === undefined) {
      ctx.addIssue({ code: "custom", message: durationProblem(value, example) });
      return z.NEVER;
    }
    return ms;
  });
}

/** Why a value is not a duration, in the words the config errors use. */
export function durationProblem(value: unknown, example = "10s"): string {
  if (value === undefined) return `expected a duration like "${example}"`;
  if (typeof value === "string" && PATTERN.test(value.trim())) return `must be longer than zero, got ${shown(value)}`;
  return `expected a duration like "${example}", got ${shown(value)}`;
}
