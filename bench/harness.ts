import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT } from "./gateway/servers.ts";

/** A progress logger whose lines start with the seconds since `started`. */
export function benchLog(started: number): (line: string) => void {
  return (line) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${line}`);
}

/** Prints the first problems the services logged, by kind, under a heading. */
export function printLoggedProblems(problems: string[], heading: string): void {
  if (problems.length === 0) return;
  console.log(`\n${heading}`);
  for (const line of problems.slice(0, 15)) console.log(`  ${line}`);
}

/**
 * Writes bench/results/<benchmark>.json (<benchmark>-quick.json for another
 * plan than "full"): the run's envelope (plan, when, how long, the machine)
 * and what it measured. Returns the file's path relative to the repository.
 */
export function writeBenchResult(benchmark: string, plan: string, started: number, measured: Record<string, unknown>): string {
  const file = path.join(REPO_ROOT, "bench", "results", plan === "full" ? `${benchmark}.json` : `${benchmark}-${plan}.json`);
  mkdirSync(path.dirname(file), { recursive: true });
  const envelope = { benchmark, plan, finished_at: new Date().toISOString(), took_s: Math.round((Date.now() - started) / 1000), machine: { cpus: os.cpus().length, node: process.version } };
  writeFileSync(file, `${JSON.stringify({ ...envelope, ...measured }, null, 2)}\n`);
  return path.relative(REPO_ROOT, file);
}

/** Runs a benchmark's main, then stops what it started: exit 0, or 1 naming the failure. */
export function runBench(main: () => Promise<void>, stopAll: (code: number, why?: string) => Promise<never>): void {
  main().then(
    () => stopAll(0),
    (err: unknown) => stopAll(1, `failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`),
  );
}
