/**
 * `npm run bench:gateway [-- --quick]`: our gateway fleet against a Socket.IO
 * fleet (redis adapter) on the same machine, same workload, same run.
 * See bench/README.md for the conventions and the `gateway` section there
 * for what each row means.
 */
import os from "node:os";
import { benchLog, printLoggedProblems, runBench, writeBenchResult } from "../harness.ts";
import { churnPhase, fanoutPhase, holdPhase, type ChurnOutcome, type ChurnPlan, type Context, type FanoutOutcome, type FanoutPlan, type HoldOutcome, type HoldPlan } from "./phases.ts";
import { formatTable, rows, type Measured } from "./report.ts";
import { Processes, startFleet, startRedis, startSocketIo, type Servers } from "./servers.ts";

interface Plan {
  name: "full" | "quick";
  fanoutRuns: number;
  resumeRuns: number;
  fleetNodes: number;
  hold: { fleet: HoldPlan; single: HoldPlan };
  fanout: FanoutPlan;
  churn: ChurnPlan;
  /** The whole benchmark is stopped (and fails) after this. */
  limitMs: number;
}

const FULL: Plan = {
  name: "full",
  fanoutRuns: 5,
  resumeRuns: 3,
  fleetNodes: 3,
  hold: {
    // 1,000/s: about what this 2-core machine sustains with the clients on it too (at 2,500/s it, not the server, sets the pace).
    // 30 s covers a heartbeat round of both servers (ours pings every 15 s, Socket.IO every 25 s).
    fleet: { clients: 50_000, processes: 5, rate: 1_000, holdMs: 30_000 },
    single: { clients: 19_000, processes: 2, rate: 1_000, holdMs: 30_000 },
  },
  // 6 × 500 publishes/s offered is far beyond what either fleet delivers to 3,000 subscribers here, so the
  // deliveries/s row measures capacity; the window of 8 keeps queues (and so latency) bounded.
  fanout: { subscribers: 3_000, processes: 3, channels: 5, publishers: 6, rate: 500, window: 8, payloadBytes: 100, connectRate: 1_500, warmupMs: 3_000, measureMs: 10_000 },
  // 50/s per channel and at most 0.5 s away: a resume misses at most ~25 messages, well inside the history of 1,000.
  churn: { clients: 600, processes: 2, channels: 6, rate: 50, window: 20, upMs: [1_000, 3_000], downMs: [0, 500], connectRate: 1_000, churnMs: 15_000 },
  limitMs: 25 * 60_000,
};

const QUICK: Plan = {
  name: "quick",
  fanoutRuns: 1,
  resumeRuns: 1,
  fleetNodes: 3,
  hold: {
    fleet: { clients: 900, processes: 3, rate: 1_500, holdMs: 1_000 },
    single: { clients: 600, processes: 1, rate: 1_500, holdMs: 1_000 },
  },
  fanout: { subscribers: 300, processes: 3, channels: 5, publishers: 3, rate: 200, window: 8, payloadBytes: 100, connectRate: 1_000, warmupMs: 1_000, measureMs: 2_000 },
  churn: { clients: 60, processes: 2, channels: 3, rate: 50, window: 20, upMs: [500, 1_000], downMs: [0, 300], connectRate: 1_000, churnMs: 2_000 },
  limitMs: 3 * 60_000,
};

const plan = process.argv.includes("--quick") ? QUICK : FULL;
/** `--only=hold,fanout,resume` runs only those measurements (for working on the benchmark itself). */
const only = new Set((process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length) ?? "hold,fanout,resume").split(","));
const procs = new Processes();
const started = Date.now();
const log = benchLog(started);

let nextAddress = 0;
/** 127.1.0.1, 127.1.0.2, …: each measurement gets source addresses no earlier one used, so ports left in TIME_WAIT never get in its way. */
function addresses(count: number): string[] {
  return Array.from({ length: count }, () => {
    const i = nextAddress++;
    return `127.${1 + Math.floor(i / 62_500)}.${(Math.floor(i / 250) % 250) + 1}.${(i % 250) + 1}`;
  });
}
const ctx: Context = { procs, log, addresses };

let stopping: { code: number; done: Promise<void> } | undefined;
/**
 * Stops everything it started, then exits. The first reason wins: a phase
 * that fails because Ctrl-C is tearing its servers down waits for that stop
 * and exits 130. A second signal exits at once (the children still go: see
 * servers.ts).
 */
async function stopAll(code: number, why?: string, signal = false): Promise<never> {
  if (stopping && signal) process.exit(stopping.code);
  if (!stopping) {
    if (why) log(why);
    stopping = { code, done: procs.stop() };
  }
  await stopping.done;
  process.exit(stopping.code);
}
process.on("SIGINT", () => void stopAll(130, "interrupted: stopping everything it started", true));
process.on("SIGTERM", () => void stopAll(143, "terminated: stopping everything it started", true));
setTimeout(() => void stopAll(1, `took longer than ${plan.limitMs / 60_000} min: stopping`), plan.limitMs).unref();

async function main(): Promise<void> {
  log(`gateway benchmark (${plan.name}): ${os.cpus().length} CPUs, Node ${process.version}`);
  const cache = await startRedis(procs, "cache");
  const sioRedis = await startRedis(procs, "socketio");
  log(`redis-server for our cache (pid ${cache.pid}) and for the Socket.IO adapter (pid ${sioRedis.pid})`);

  const holds: Record<string, Record<string, HoldOutcome>> = { fleet: {}, single: {} };
  const fanouts: Record<string, FanoutOutcome[]> = { ours: [], socketio: [] };
  const churns: ChurnOutcome[] = [];
  const problems: string[] = [];

  // Fresh server processes for the hold phases: memory freed by an earlier phase would hide what connections cost.
  let [ours, sio] = await Promise.all([
    startFleet(procs, { nodes: plan.fleetNodes, cacheUrl: cache.url }),
    startSocketIo(procs, { count: plan.fleetNodes, redisUrl: sioRedis.url }),
  ]);
  log(`our gateway: ${plan.fleetNodes} nodes (pids ${(await ours.pids()).join(", ")}); Socket.IO: ${plan.fleetNodes} servers (pids ${(await sio.pids()).join(", ")})`);
  if (only.has("hold")) {
    holds.fleet!.ours = await holdPhase(ctx, `ours ${plan.fleetNodes} nodes`, ours, plan.hold.fleet);
    holds.fleet!.socketio = await holdPhase(ctx, `Socket.IO ${plan.fleetNodes} servers`, sio, plan.hold.fleet);
  }

  // Runs alternate between the two so drift on a shared machine hits both alike.
  for (let run = 1; run <= plan.fanoutRuns && only.has("fanout"); run++) {
    fanouts.ours!.push(await fanoutPhase(ctx, `fan-out ${run}/${plan.fanoutRuns} ours`, ours, plan.fanout, run, cache.pid));
    fanouts.socketio!.push(await fanoutPhase(ctx, `fan-out ${run}/${plan.fanoutRuns} Socket.IO`, sio, plan.fanout, run, sioRedis.pid));
  }
  for (let run = 1; run <= plan.resumeRuns && only.has("resume"); run++) churns.push(await churnPhase(ctx, `resume ${run}/${plan.resumeRuns} ours`, ours, plan.churn, run));
  problems.push(...ours.problems());
  await Promise.all([ours.stop(), sio.stop()]);

  if (only.has("hold")) {
    [ours, sio] = await Promise.all([startFleet(procs, { nodes: 1, cacheUrl: cache.url }), startSocketIo(procs, { count: 1, redisUrl: sioRedis.url })]);
    log(`single node: our gateway pid ${(await ours.pids()).join(", ")}, Socket.IO pid ${(await sio.pids()).join(", ")}`);
    holds.single!.ours = await holdPhase(ctx, "ours 1 node", ours, plan.hold.single);
    holds.single!.socketio = await holdPhase(ctx, "Socket.IO 1 server", sio, plan.hold.single);
    problems.push(...ours.problems());
    await Promise.all([ours.stop(), sio.stop()]);
  }

  const measured: Measured = { plan: { fleetNodes: plan.fleetNodes, hold: plan.hold }, holds, fanouts, churns };
  const table = rows(measured);
  const seconds = (Date.now() - started) / 1000;
  console.log(`\n${formatTable(table)}\n`);
  console.log(
    `ratio = ours ÷ Socket.IO on every row (lower is better for memory, time and latency). Fan-out rows: medians of ${plan.fanoutRuns} run(s) each, ` +
      `alternating ours / Socket.IO; connection and memory rows: one run per size (each takes about a minute and a half).`,
  );
  printLoggedProblems(problems, "warnings and errors our gateway logged (LOG_LEVEL=warn), by kind:");
  if (only.size < 3) return log(`done in ${seconds.toFixed(0)} s; --only: no results file written`);
  const file = writeBenchResult("gateway", plan.name, started, {
    parameters: { hold: plan.hold, fanout: plan.fanout, churn: plan.churn, fanout_runs: plan.fanoutRuns, resume_runs: plan.resumeRuns, fleet_nodes: plan.fleetNodes },
    ratio: "ours ÷ Socket.IO",
    rows: table,
    runs: { holds, fanouts, churns },
    gateway_log_problems: problems.slice(0, 50),
  });
  log(`done in ${seconds.toFixed(0)} s; wrote ${file}`);
}

runBench(main, stopAll);
