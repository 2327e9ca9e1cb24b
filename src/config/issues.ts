import type { z } from "zod";
import { didYouMean } from "./closest.ts";

/**
 * Formats zod issues as `path: message`, with paths like `probes[2].interval`.
 * `base` is the path of the value that was validated, when it sits inside a larger tree.
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], base = ""): string[] {
  return issues.map((issue) => `${joinPath(base, formatPath(issue.path)) || "(root)"}: ${clip(issue.message, 300)}`);
}

/**
 * An error map for `safeParse(value, { error: suggestKeys })`: zod's
 * `Unrecognized key: "intervall"` gains the nearest key the object knows,
 * `Unrecognized key: "intervall" (did you mean "interval"?)`. The object's
 * keys come from the strict object that raised the issue, so it works for any
 * schema (probe kinds', notifiers', steps') without knowing it. Other issues
 * keep their own messages.
 */
export const suggestKeys: z.core.$ZodErrorMap = (issue) => {
  if (issue.code !== "unrecognized_keys") return undefined;
  const def = issue.inst?._zod.def as { shape?: Record<string, unknown> } | undefined;
  if (!def?.shape) return undefined;
  const written = issue.input && typeof issue.input === "object" ? Object.keys(issue.input) : [];
  const free = Object.keys(def.shape).filter((key) => !written.includes(key));
  const hints = issue.keys.map((key) => didYouMean(key, free));
  if (hints.every((hint) => hint === "")) return undefined;
  const keys = issue.keys.map((key, i) => `${JSON.stringify(key)}${hints[i]}`);
  return `Unrecognized key${keys.length > 1 ? "s" : ""}: ${keys.join(", ")}`;
};

/**
 * A value as a problem quotes it: JSON, cut to `max` characters, so a
 * 70,000-character mistake is named in a line, not pasted back whole.
 */
export function shown(value: unknown, max = 60): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length <= max ? text : `${text.slice(0, max)}… (${text.length} characters)`;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}…`;
}

/** `["probes", 2, "interval"]` → `probes[2].interval`. */
export function formatPath(parts: readonly PropertyKey[]): string {
  let out = "";
  for (const part of parts) out = joinPath(out, typeof part === "number" ? `[${part}]` : clip(String(part), 60));
  return out;
}

function joinPath(base: string, rest: string): string {
  if (!base) return rest;
  if (!rest) return base;
  return rest.startsWith("[") ? base + rest : `${base}.${rest}`;
}
