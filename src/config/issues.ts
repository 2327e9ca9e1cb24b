import type { z } from "zod";

/**
 * Formats zod issues as `path: message`, with paths like `probes[2].interval`.
 * `base` is the path of the value that was validated, when it sits inside a larger tree.
 */
export function formatIssues(issues: readonly z.core.$ZodIssue[], base = ""): string[] {
  return issues.map((issue) => `${joinPath(base, formatPath(issue.path)) || "(root)"}: ${issue.message}`);
}

/** `["probes", 2, "interval"]` → `probes[2].interval`. */
export function formatPath(parts: readonly PropertyKey[]): string {
  let out = "";
  for (const part of parts) out = joinPath(out, typeof part === "number" ? `[${part}]` : String(part));
  return out;
}

function joinPath(base: string, rest: string): string {
  if (!base) return rest;
  if (!rest) return base;
  return rest.startsWith("[") ? base + rest : `${base}.${rest}`;
}
