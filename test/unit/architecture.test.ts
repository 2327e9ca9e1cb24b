import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { REPO_ROOT } from "../helpers/config.ts";

const SRC = path.join(REPO_ROOT, "src");

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sourceFiles(full) : name.endsWith(".ts") ? [full] : [];
  });
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/(?:import|export)\s[^;]*?from\s+"([^"]+)"/g)].map((m) => m[1]!).filter((s) => s.startsWith("."));
}

/** The room (folder under src/) a file belongs to; main.ts is the composition root. */
function roomOf(file: string): string | undefined {
  const rel = path.relative(SRC, file);
  return rel.includes(path.sep) ? rel.split(path.sep)[0] : undefined;
}

describe("architecture", () => {
  const files = sourceFiles(SRC);

  it("rooms use each other only through their index.ts door", () => {
    const violations: string[] = [];
    for (const file of files) {
      for (const spec of importsOf(file)) {
        const target = path.resolve(path.dirname(file), spec);
        if (!target.startsWith(SRC)) continue;
        const from = roomOf(file);
        const to = roomOf(target);
        if (to && from !== to && path.basename(target) !== "index.ts") {
          violations.push(`${path.relative(REPO_ROOT, file)} imports ${spec}`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });

  it("has no import cycles between rooms", () => {
    const edges = new Map<string, Set<string>>();
    for (const file of files) {
      const from = roomOf(file);
      if (!from) continue;
      for (const spec of importsOf(file)) {
        const to = roomOf(path.resolve(path.dirname(file), spec));
        if (to && to !== from) (edges.get(from) ?? edges.set(from, new Set()).get(from)!).add(to);
      }
    }
    const cycles: string[] = [];
    const visit = (room: string, trail: string[]): void => {
      if (trail.includes(room)) {
        cycles.push([...trail.slice(trail.indexOf(room)), room].join(" → "));
        return;
      }
      for (const next of edges.get(room) ?? []) visit(next, [...trail, room]);
    };
    for (const room of edges.keys()) visit(room, []);
    assert.deepEqual(cycles, []);
  });

  it("keeps Express out of the status room and BullMQ out of probes", () => {
    const offenders = files
      .filter((f) => roomOf(f) === "status" && /from "express"/.test(readFileSync(f, "utf8")))
      .concat(sourceFiles(path.join(REPO_ROOT, "probes")).filter((f) => /from "bullmq"/.test(readFileSync(f, "utf8"))));
    assert.deepEqual(offenders.map((f) => path.relative(REPO_ROOT, f)), []);
  });

  it("reads process.env only in config, the CLI and the role composition", () => {
    const allowed = new Set(["config", "roles", undefined]);
    const offenders = files.filter((f) => !allowed.has(roomOf(f)) && /process\.env\b/.test(readFileSync(f, "utf8")));
    assert.deepEqual(offenders.map((f) => path.relative(REPO_ROOT, f)), []);
  });
});
