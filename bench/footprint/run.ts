/**
 * `npm run bench:footprint`: the memory and idle CPU of the embedded default.
 *
 * Each run starts the stack exactly as `npm start` does (scripts/start.mjs:
 * system-deps, build, `pulseboard start`) with the repository's
 * pulseboard.yaml, a fresh temporary PULSEBOARD_HOME and free ports, waits
 * until the status page answers, lets it idle (60 s), then sums VmRSS over
 * the whole process tree and measures each process's CPU over the next 30 s
 * (utime + stime deltas). PSS (each shared page divided among the processes
 * mapping it) is shown beside RSS: every Node process maps some 45 MiB of
 * the node binary, which the sum of VmRSS counts once per process. Then it
 * stops the stack with SIGTERM, as a service manager would, and checks that
 * no process of the tree is left.
 *
 *   npm run bench:footprint -- [--idle 60] [--cpu 30] [--runs 1]
 *
 * Prints the table (medians over the runs) and writes bench/results/footprint.json
 * (footprint-custom.json for other settings than the defaults).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "../../src/core/index.ts";
import { freePortRange } from "../../test/helpers/ports.ts";
import { REPO_ROOT } from "../gateway/servers.ts";
import { writeBenchResult } from "../harness.ts";
import { embeddedRedisPids, processTree, readProcess, roleOf, type ProcessInfo } from "./proc.ts";
import { medianRows, renderTable, type Row, type RunResult } from "./table.ts";

const { values: flags } = parseArgs({
  options: { idle: { type: "string", default: "60" }, cpu: { type: "string", default: "30" }, runs: { type: "string", default: "1" }, "node-options": { type: "string" } },
});
const IDLE_S = Number(flags.idle);
const CPU_S = Number(flags.cpu);
const RUNS = Number(flags.runs);
for (const [name, value] of Object.entries({ idle: IDLE_S, cpu: CPU_S, runs: RUNS })) {
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a number greater than 0 (got ${JSON.stringify(flags[name as keyof typeof flags])})`);
}
const STOP_TIMEOUT_MS = 20_000;
const UP_TIMEOUT_MS = 90_000;

const say = (line: string): void => void process.stderr.write(`footprint: ${line}\n`);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sleeps `seconds`, saying how far it is every 10 s. */
async function waitSaying(what: string, seconds: number): Promise<void> {
  for (let done = 0; done < seconds; done += 10) {
    say(`${what}: ${done} of ${seconds} s`);
    await sleep(Math.min(10, seconds - done) * 1000);
  }
}

async function untilPageServes(port: number, stack: ChildProcess): Promise<void> {
  const deadline = Date.now() + UP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (stack.exitCode !== null || stack.signalCode !== null) throw new Error(`npm start exited (${stack.signalCode ?? stack.exitCode}) before the page served`);
    const ok = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.ok, () => false);
    if (ok) return;
    await sleep(250);
  }
  throw new Error(`the status page did not answer within ${UP_TIMEOUT_MS / 1000} s`);
}

/** `npm start`'s command line from package.json (`exec node <flags> scripts/start.mjs`), without npm's own process. */
function npmStartArgs(): string[] {
  const script = (JSON.parse(readFileSync(path.join(REPO_ROOT, "package.json"), "utf8")) as { scripts: Record<string, string> }).scripts.start!;
  const words = script.split(/\s+/).filter((w) => w && w !== "exec");
  if (words[0] !== "node") throw new Error(`package.json's start script is not \`node …\`: ${script}`);
  return words.slice(1).map((w) => (w.endsWith(".mjs") ? path.join(REPO_ROOT, w) : w));
}

/** One measured run of the embedded default. */
async function measureOnce(run: number): Promise<RunResult> {
  const home = mkdtempSync(path.join(os.tmpdir(), "pulseboard-footprint-"));
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PULSEBOARD_HOME: home,
    PORT: String(port),
    GATEWAY_PORT: String(await freePortRange(3)),
    GATEWAY_ADMIN_PORT: String(await freePort()),
  };
  for (const name of ["REDIS_URL", "CACHE_REDIS_URL", "ADMIN_TOKEN", "PULSEBOARD_CONFIG", "LOG_LEVEL", "NODE_OPTIONS"]) delete env[name];
  // An experiment: V8 or Node flags for every process of the tree.
  if (flags["node-options"]) env.NODE_OPTIONS = flags["node-options"];
  const log: string[] = [];
  const stack = spawn(process.execPath, npmStartArgs(), { cwd: REPO_ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  const keep = (chunk: Buffer): void => {
    log.push(...chunk.toString().split("\n").filter(Boolean));
    if (log.length > 200) log.splice(0, log.length - 200);
  };
  stack.stdout!.on("data", keep);
  stack.stderr!.on("data", keep);
  const seen = new Set<number>();
  try {
    say(`run ${run}: starting the embedded default (npm start) on port ${port}`);
    await untilPageServes(port, stack);
    await waitSaying(`run ${run}: idle`, IDLE_S);
    const redis = embeddedRedisPids(home);
    const before = processTree(stack.pid!);
    for (const p of before) seen.add(p.pid);
    const started = process.hrtime.bigint();
    await waitSaying(`run ${run}: idle CPU`, CPU_S);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const rows = before.map((p): Row => {
      const after = readProcess(p.pid);
      const cpu = after ? ((after.cpuS - p.cpuS) / seconds) * 100 : Number.NaN;
      return { role: roleOf(p, before, redis), pid: p.pid, rssMiB: p.rss / 2 ** 20, pssMiB: p.pss / 2 ** 20, cpuPct: cpu };
    });
    for (const p of processTree(stack.pid!)) seen.add(p.pid);
    return { rows: rows.sort((a, b) => Number(b.pid === stack.pid) - Number(a.pid === stack.pid)) };
  } catch (err) {
    process.stderr.write(`${log.slice(-40).join("\n")}\n`);
    throw err;
  } finally {
    await stop(stack, seen);
    rmSync(home, { recursive: true, force: true });
  }
}

/** SIGTERM to the top of the tree, as `kill <npm start>` sends; then every process ever seen must be gone. */
async function stop(stack: ChildProcess, seen: Set<number>): Promise<void> {
  if (stack.exitCode === null && stack.signalCode === null) {
    for (const p of processTree(stack.pid!)) seen.add(p.pid);
    const exited = new Promise<void>((resolve) => stack.once("exit", () => resolve()));
    stack.kill("SIGTERM");
    await Promise.race([exited, sleep(STOP_TIMEOUT_MS)]);
  }
  await sleep(500);
  const left: ProcessInfo[] = [...seen].map((pid) => readProcess(pid)).filter((p): p is ProcessInfo => p !== undefined);
  for (const p of left) process.kill(p.pid, "SIGKILL");
  if (left.length > 0) throw new Error(`processes left after stopping the stack (now killed): ${left.map((p) => `${p.pid} ${p.cmdline}`).join("; ")}`);
  say(`stopped; none of the ${seen.size} processes of the tree is left`);
}

async function main(): Promise<void> {
  const started = Date.now();
  const runs: RunResult[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const result = await measureOnce(run);
    runs.push(result);
    if (RUNS > 1) process.stdout.write(`run ${run}:\n${renderTable(result.rows, { idleS: IDLE_S, cpuS: CPU_S })}\n`);
  }
  const median = medianRows(runs);
  const heading = RUNS > 1 ? `medians of ${RUNS} runs` : "one run";
  process.stdout.write(`\nembedded default (npm start), ${heading}:\n${renderTable(median.rows, { idleS: IDLE_S, cpuS: CPU_S, totals: median.totals })}\n`);
  const plan = IDLE_S === 60 && CPU_S === 30 && !flags["node-options"] ? "full" : "custom";
  const file = writeBenchResult("footprint", plan, started, { idle_s: IDLE_S, cpu_s: CPU_S, runs: runs.map((r) => r.rows), median: median.rows, totals: median.totals });
  say(`wrote ${file}`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`footprint: failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
