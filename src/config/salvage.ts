import type { z } from "zod";
import { formatIssues, formatPath, suggestKeys } from "./issues.ts";

/** A schema parse that went as far as the file allows. */
export interface Salvaged<T> {
  /** The schema's problems with the file as written. */
  problems: string[];
  /** The file with its broken parts taken out, parsed; undefined when too little was left to check further. */
  data?: T;
  /**
   * Cross-reference problems found on `data`, made to speak of the file:
   * indices mapped back past the entries that were left out, and the
   * consequences of a broken part (which the schema already named) dropped.
   */
  tidy(found: string[]): string[];
}

interface Dropped {
  listPath: PropertyKey[];
  /** Formatted path of the list, like `probes`. */
  list: string;
  index: number;
  id?: string;
}

/**
 * Parses `value`, and when that fails, parses it again with the broken parts
 * taken out, so the checks that need a parsed file (ids, references) still
 * run and one run reports every problem. Unknown keys are removed; a bad value
 * is removed so its default applies; a list entry that still fails (a
 * required field was the bad one) is left out whole. When even that fails,
 * only the schema's problems are reported.
 */
export function parseSalvaging<S extends z.ZodType>(schema: S, value: unknown): Salvaged<z.output<S>> {
  const first = schema.safeParse(value, { error: suggestKeys });
  if (first.success) return { problems: [], data: first.data, tidy: (found) => found };
  const problems = formatIssues(first.error.issues);
  const givenUp = { problems, tidy: () => [] };
  const tree = structuredClone(value);
  // Objects that lost a bad field: checks weighing one of their fields against another would judge a default the file never set.
  const shaky: string[] = [];
  for (const issue of first.error.issues) {
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) removeAt(tree, [...issue.path, key]);
    } else if (issue.path.length === 0) {
      return givenUp;
    } else if (typeof issue.path.at(-1) !== "number") {
      removeAt(tree, issue.path);
      shaky.push(formatPath(issue.path.length > 1 ? issue.path.slice(0, -1) : issue.path));
    }
  }
  let second = schema.safeParse(tree);
  const dropped: Dropped[] = [];
  if (!second.success) {
    for (const issue of second.error.issues) {
      const at = issue.path.findIndex((part) => typeof part === "number");
      if (at < 0) return givenUp;
      const listPath = issue.path.slice(0, at);
      const index = issue.path[at] as number;
      const list = formatPath(listPath);
      if (dropped.some((d) => d.list === list && d.index === index)) continue;
      const entries = valueAt(tree, listPath);
      if (!Array.isArray(entries)) return givenUp;
      const entry = entries[index] as { id?: unknown } | undefined;
      dropped.push({ listPath, list, index, id: typeof entry?.id === "string" ? entry.id : undefined });
    }
    for (const d of [...dropped].sort((a, b) => b.index - a.index)) {
      (valueAt(tree, d.listPath) as unknown[]).splice(d.index, 1);
    }
    second = schema.safeParse(tree);
    if (!second.success) return givenUp;
  }
  return { problems, data: second.data, tidy: (found) => tidy(found, shaky, dropped) };
}

function tidy(found: string[], shaky: string[], dropped: Dropped[]): string[] {
  const droppedIds = new Set(dropped.flatMap((d) => (d.id === undefined ? [] : [d.id])));
  return found
    .map((problem) => remapIndices(problem, dropped))
    .filter((problem) => {
      const reference = /(?:has the id|is already used by) /.test(problem);
      if (reference) return ![...droppedIds].some((id) => problem.includes(`has the id "${id}"`));
      return !shaky.some((s) => problem.startsWith(`${s}.`) || problem.startsWith(`${s}[`) || problem.startsWith(`${s}:`));
    });
}

/** `probes[1]` of the parsed file is `probes[2]` of the written one when `probes[0]` was left out. */
function remapIndices(problem: string, dropped: Dropped[]): string {
  const lists = new Set(dropped.map((d) => d.list));
  let out = problem;
  for (const list of lists) {
    const gone = dropped.filter((d) => d.list === list).map((d) => d.index).sort((a, b) => a - b);
    const pattern = new RegExp(`(^|[^.\\w\\]])${list.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\[(\\d+)\\]`, "g");
    out = out.replace(pattern, (_whole, before: string, index: string) => {
      let original = Number(index);
      for (const g of gone) if (g <= original) original++;
      return `${before}${list}[${original}]`;
    });
  }
  return out;
}

function valueAt(tree: unknown, path: readonly PropertyKey[]): unknown {
  let node = tree;
  for (const part of path) {
    if (!node || typeof node !== "object") return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

function removeAt(tree: unknown, path: readonly PropertyKey[]): void {
  const parent = valueAt(tree, path.slice(0, -1));
  if (parent && typeof parent === "object" && !Array.isArray(parent)) delete (parent as Record<PropertyKey, unknown>)[path.at(-1)!];
}
