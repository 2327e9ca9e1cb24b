import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { createLogger } from "../../src/core/index.ts";
import { REPO_ROOT } from "../helpers/config.ts";

/**
 * One key once per JSON log line: pino writes a call's fields after the
 * base fields and a child's bindings without merging them, so a call that
 * passes `pid` (every line has the process's) or `probe` (a probe run's
 * logger is bound to it) writes the key twice and a reader keeps either.
 */

/** Keys on every line: the logger's base and pino's own. */
const BASE_KEYS = ["pid", "hostname", "time", "level", "msg"];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = path.join(dir, name);
    return statSync(full).isDirectory() ? sources(full) : full.endsWith(".ts") ? [full] : [];
  });
}

/** The top-level keys of each log call's first object literal: log.info({ a, b: 1 }, "…"). */
function logCalls(file: string): { call: string; keys: string[]; logger: string }[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(/\b((?:ctx|this|options)?\.?log)\??\.(trace|debug|info|warn|error|fatal)\(\s*\{([^}]*)\}/g)].map((match) => ({
    call: match[0].slice(0, 120),
    logger: match[1]!,
    keys: match[3]!.split(",").map((part) => part.trim().split(/[:\s]/)[0]!.replace(/^\.\.\./, "")).filter(Boolean),
  }));
}

describe("log lines name each field once", () => {
  const files = [...sources(path.join(REPO_ROOT, "src")), ...sources(path.join(REPO_ROOT, "probes"))];

  it("no log call passes a key every line already has (pid, hostname, time, level, msg)", () => {
    const found = files.flatMap((file) => logCalls(file).filter((c) => c.keys.some((k) => BASE_KEYS.includes(k))).map((c) => `${path.relative(REPO_ROOT, file)}: ${c.call}`));
    assert.deepEqual(found, []);
  });

  it("no probe kind or probe runtime logs `probe` again through the run's logger, which is bound to it", () => {
    const runtime = files.filter((f) => f.includes(`${path.sep}probes${path.sep}`) || f.includes(`${path.sep}probe-runtime${path.sep}`));
    const found = runtime.flatMap((file) => logCalls(file).filter((c) => c.logger === "ctx.log" && c.keys.includes("probe")).map((c) => `${path.relative(REPO_ROOT, file)}: ${c.call}`));
    assert.deepEqual(found, []);
  });

  it("pino indeed writes a repeated key twice (why the rules above matter)", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "info", destination: { write: (line: string) => lines.push(line) } });
    log.child({ probe: "p1" }).info({ probe: "p1" }, "twice");
    assert.equal(lines.join("").match(/"probe":/g)?.length, 2);
  });
});

describe("a gateway fault's log lines say what happened", () => {
  it("names the fault and its length when injected, and says faults cleared when cleared", async () => {
    const { startTestNode } = await import("../helpers/gateway.ts");
    const lines: string[] = [];
    const log = createLogger({ level: "info", destination: { write: (line: string) => lines.push(line) } });
    const node = await startTestNode({ yaml: "  faults: true\n", override: (o) => ({ ...o, log }) });
    try {
      node.node.fault({ fault: "drop-publishes", ms: 1_000 });
      node.node.fault({ fault: "clear" });
    } finally {
      await node.node.stop();
    }
    const said = lines.map((line) => JSON.parse(line) as { msg: string; fault?: unknown; for_ms?: number }).filter((l) => /fault/.test(l.msg));
    assert.deepEqual(
      said.map((l) => [l.msg, l.fault, l.for_ms]),
      [
        ["fault injected", "drop-publishes", 1_000],
        ["faults cleared", undefined, undefined],
      ],
    );
  });
});
