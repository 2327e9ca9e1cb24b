/**
 * `npm run bench:probes [-- --quick]`: how many probe runs per second one
 * agent (`pulseboard agent`, its own process) sustains, websocket and redis
 * probes half and half at 1 s intervals against a stack of its own, and how
 * late each run starts after its scheduled slot (p50 / p99). The offered
 * load is stepped; the goal step is run three times and its medians kept.
 * One step runs the same mix on a remote location instead: one HTTPS agent
 * pushing its results over HTTP to the web role (remote.ts).
 * See bench/README.md, section `probes`.
 */
import os from "node:os";
import { benchLog, printLoggedProblems, runBench, writeBenchResult } from "../harness.ts";
import { connectRedis, closeRedis, createLogger } from "../../src/core/index.ts";
import { bullPrefix, probeQueue, syncSchedules } from "../../src/pipeline/index.ts";
import { Processes } from "../gateway/servers.ts";
import { median, sleep } from "../gateway/shared.ts";
import { cpuSnapshot, quantile, RunLog } from "./observe.ts";
import { PROTOCOLS, type ProtocolName } from "../../src/probe-runtime/index.ts";
import { httpsAgentWindow, startHttpsAgent, type HttpsAgent } from "./remote.ts";
import { LOCATION, PROBES_PER_COMPONENT, protocolProbeId, startStack, type Stack } from "./stack.ts";

/**
 * One measured step: `offered` probes at 1 s; `hz` sets the control-plane
 * Redis's timer frequency for it (default 10). With `protocol`, every probe
 * of the step is a websocket probe (connect, subscribe, publish, echo) of
 * that protocol against its broker, so the agent's CPU per run can be
 * compared across adapters. With `remote`, the step's probes belong to a
 * remote location: no schedules, one HTTPS agent runs them on its own timers
 * and pushes the results to the web role (both started for the step).
 */
interface Step {
  offered: number;
  hz?: number;
  protocol?: ProtocolName;
  remote?: boolean;
}

interface Plan {
  name: "full" | "quick";
  /** The steps, in order (one probe at 1 s is one run/s offered). */
  steps: Step[];
  /** From the schedules being in place to the start of the window: the first runs of every probe, connection pools warming. */
  warmupMs: number;
  measureMs: number;
  /** Longest wait between steps for the queues to empty. */
  drainMs: number;
  limitMs: number;
}

const GOAL = { runsPerS: 500, p99Ms: 250 };
/** Issue 16's goal for remote locations: one HTTPS agent at the same load and start delay, its results pushed to the web role. */
const HTTPS_GOAL = { runsPerS: 500, p99Ms: 250 };
/** A run of the HTTPS agent arrived in the window when the web role had it this long after the window's end at the latest: the agent pushes every second. */
const ARRIVAL_GRACE_MS = 2_000;
/** An adapter may cost the agent at most this many times the CPU per run of our own protocol. */
const ADAPTER_CPU_RATIO = 1.5;
/** The per-protocol steps, ours first (the reference), at the goal's load. */
const protocolSteps = (offered: number): Step[] => PROTOCOLS.map((protocol) => ({ offered, protocol }));
/** A step is sustained when this share of the offered runs ran in the window and none were skipped as stale. */
const SUSTAINED_SHARE = 0.99;

const FULL: Plan = {
  name: "full",
  // The goal's step three times, spread out so one burst of other work on the machine spoils one run of it, not all;
  // once with Redis waking blocked clients every 10 ms instead of 100 ms (see README); the overloads last, as they leave a backlog.
  steps: [
    { offered: 100 },
    { offered: 500 },
    { offered: 250 },
    { offered: 500 },
    { offered: 500, hz: 100 },
    ...protocolSteps(500),
    { offered: 500 },
    { offered: HTTPS_GOAL.runsPerS, remote: true },
    { offered: 750 },
    { offered: 1_000 },
  ],
  warmupMs: 5_000,
  measureMs: 20_000,
  drainMs: 20_000,
  limitMs: 14 * 60_000,
};
const QUICK: Plan = {
  name: "quick",
  steps: [{ offered: 100 }, { offered: 250 }, ...protocolSteps(100), { offered: HTTPS_GOAL.runsPerS, remote: true }],
  warmupMs: 3_000,
  measureMs: 5_000,
  drainMs: 10_000,
  limitMs: 4 * 60_000,
};

/** `--steps=250,500,https:500` runs those offered loads (`https:` on the HTTPS agent) instead of the plan's (for working on the benchmark itself) and writes no file. */
const stepsArg = process.argv.find((a) => a.startsWith("--steps="))?.slice("--steps=".length);
const plan: Plan = { ...(process.argv.includes("--quick") ? QUICK : FULL), ...(stepsArg ? { steps: stepsArg.split(",").map(parseStep) } : {}) };

function parseStep(text: string): Step {
  const match = /^(https:)?(\d+)$/.exec(text.trim());
  if (!match || Number(match[2]) < 1) throw new Error(`--steps: "${text}" is not a step; expected a number of probes (250) or https: and one (https:500), comma-separated`);
  return { offered: Number(match[2]), ...(match[1] ? { remote: true } : {}) };
}
const procs = new Processes();
const started = Date.now();
const log = benchLog(started);
const quiet = createLogger({ level: "silent", pretty: false });

/** What one step measured over its window. */
interface StepOutcome {
  offered: number;
  /** The control-plane Redis's `hz` during the step. */
  hz: number;
  /** The protocol of a per-protocol step. */
  protocol?: ProtocolName;
  /** An HTTPS-agent step. */
  remote?: boolean;
  /** Probe runs finished in the window, per second; for the HTTPS agent, runs due in the window whose result reached the web role by its end (+ ARRIVAL_GRACE_MS). */
  achieved: number;
  /** Of the runs due in the window, the share that arrived; only for the HTTPS agent, whose runs are due at known slots. */
  arrivedShare?: number;
  /** From the scheduled slot to the run's start, over the runs in the window. */
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
  /** How long the probes themselves took (connect to answer), over the same runs. */
  latencyP50Ms: number;
  latencyP99Ms: number;
  /** Runs whose result was `failed` or `degraded` (the probe found a problem; the stack is healthy, so this is overload). */
  failed: number;
  degraded: number;
  /** Runs the agent skipped because they had waited over two intervals (the Redis agent only). */
  stale: number;
  /** Probe jobs that failed outright (the processor threw). */
  jobErrors: number;
  /** Results the worker evaluated per second (runs finished minus the growth of the evaluate backlog). */
  evaluated: number;
  evaluateBacklog: number;
  /** CPU used in the window, % of one core; `machine` is every process and the kernel together; `web` the web role's (HTTPS-agent steps). */
  cpu: { agent: number; worker: number; gateway: number; broker: number; web: number; redisControl: number; redisCache: number; bench: number; other: number; machine: number };
  /** HTTPS-agent steps: results the web role accepted in the window, those the agent said it dropped, and the web role's CPU per 1,000 accepted results. */
  https?: { accepted: number; dropped: number; webCpuMsPer1000: number; deliveryP50Ms: number; deliveryP99Ms: number };
  syncMs: number;
}

/** Steps that must run before the processes go (they talk to the Redis servers), newest first. */
const teardown: (() => Promise<void>)[] = [];
let stopping: Promise<void> | undefined;
async function stopAll(code: number, why?: string): Promise<never> {
  if (why) log(why);
  stopping ??= (async () => {
    for (const step of teardown.reverse()) await Promise.race([step().catch(() => {}), sleep(15_000)]);
    await procs.stop();
  })();
  await stopping;
  process.exit(code);
}
process.on("SIGINT", () => void stopAll(130, "interrupted: stopping everything it started"));
process.on("SIGTERM", () => void stopAll(143, "terminated: stopping everything it started"));
setTimeout(() => void stopAll(1, `took longer than ${plan.limitMs / 60_000} min: stopping`), plan.limitMs).unref();

/** Puts a step's load on: schedules for the Redis agent, or the HTTPS agent and the web role. Returns how to take it off. */
async function startLoad(stack: Stack, { offered, hz = 10, protocol, remote }: Step, label: string): Promise<{ https?: HttpsAgent; syncMs: number; stop(): Promise<void> }> {
  if (remote) {
    const https = await startHttpsAgent(stack, procs, offered, log);
    log(`${label}: ${offered} probes at 1 s on one HTTPS agent; warming up ${plan.warmupMs / 1000} s`);
    return { https, syncMs: 0, stop: () => https.stop() };
  }
  const probes = protocol ? Array.from({ length: offered }, (_, n) => stack.config.probes.find((p) => p.id === protocolProbeId(protocol, n))!) : stack.config.probes.slice(0, offered);
  const syncFrom = Date.now();
  await syncSchedules({ ...stack.config, probes }, stack.queues, quiet);
  const syncMs = Date.now() - syncFrom;
  log(`${label}: ${probes.length} probes scheduled at 1 s (${syncMs} ms to sync)${hz === 10 ? "" : `, control-plane Redis at hz ${hz}`}; warming up ${plan.warmupMs / 1000} s`);
  return {
    syncMs,
    async stop() {
      await syncSchedules({ ...stack.config, probes: [] }, stack.queues, quiet);
    },
  };
}

async function runStep(stack: Stack, runs: RunLog, step: Step, label: string): Promise<StepOutcome> {
  const { offered, hz = 10, protocol, remote } = step;
  await stack.redis.config("SET", "hz", String(hz));
  const load = await startLoad(stack, step, label);
  const { https, syncMs } = load;
  await sleep(plan.warmupMs);

  const gateway = await stack.pids.gateway();
  const groups = {
    // The Redis agent waits idle on its queue during an HTTPS-agent step: its CPU is in `other`.
    agent: [https ? https.pids.agent : stack.pids.agent],
    worker: [stack.pids.worker],
    gateway,
    broker: protocol && protocol !== "pulseboard" ? stack.brokers[protocol].pids : [],
    web: https ? [https.pids.web] : [],
    redisControl: [stack.pids.controlRedis],
    redisCache: [stack.pids.cacheRedis],
    bench: [process.pid],
  };
  const from = Date.now();
  const [cpuFrom, backlogFrom, acceptedFrom] = [cpuSnapshot(groups), await stack.evaluateBacklog(), await https?.accepted()];
  await sleep(plan.measureMs);
  const to = Date.now();
  const [cpuTo, backlogTo, acceptedTo] = [cpuSnapshot(groups), await stack.evaluateBacklog(), await https?.accepted()];
  const seconds = (to - from) / 1000;
  // Completions are read from the event stream a moment after they happen; the HTTPS agent's last runs of the window are pushed within a second.
  await sleep(https ? ARRIVAL_GRACE_MS : 500);

  await load.stop();
  await stack.redis.config("SET", "hz", "10");
  const drainUntil = Date.now() + plan.drainMs;
  let left = { probe: 0, evaluate: 0 };
  do {
    await sleep(250);
    left = { probe: await stack.probeBacklog(), evaluate: await stack.evaluateBacklog() };
  } while ((left.probe > 0 || left.evaluate > 0) && Date.now() < drainUntil);
  if (left.probe > 0 || left.evaluate > 0) log(`${label}: queues not empty after ${plan.drainMs / 1000} s (probe ${left.probe}, evaluate ${left.evaluate}); going on${https ? "; results not yet evaluated are not in the status store, so the HTTPS agent's counts are low" : ""}`);

  // What ran in the window: from the probe queue's event stream, or (HTTPS agent) the runs due in the window whose results the web role had by its end.
  const remoteWindow = https ? await httpsAgentWindow(stack, offered, from, to) : undefined;
  const window = remoteWindow ? remoteWindow.runs.filter((r) => r.at < to + ARRIVAL_GRACE_MS) : runs.between(from, to);
  const ran = window.filter((r) => r.status !== undefined);
  const delays = ran.flatMap((r) => (r.lateMs === undefined ? [] : [r.lateMs]));
  const latencies = ran.flatMap((r) => (r.latencyMs === undefined ? [] : [r.latencyMs]));
  const percent = (k: string): number => ((cpuTo[k]! - cpuFrom[k]!) / seconds) * 100;
  const cpu = {
    agent: percent("agent"),
    worker: percent("worker"),
    gateway: percent("gateway"),
    broker: percent("broker"),
    web: percent("web"),
    redisControl: percent("redisControl"),
    redisCache: percent("redisCache"),
    bench: percent("bench"),
    other: 0,
    machine: percent("machine"),
  };
  cpu.other = Math.max(0, cpu.machine - cpu.agent - cpu.worker - cpu.gateway - cpu.broker - cpu.web - cpu.redisControl - cpu.redisCache - cpu.bench);
  // Results that entered the evaluate queue in the window: for the HTTPS agent, what the web role accepted (whole pushes, so it jumps by a second's results at a time).
  const queued = acceptedFrom && acceptedTo ? acceptedTo.results - acceptedFrom.results : ran.length;
  const outcome: StepOutcome = {
    offered,
    hz,
    protocol,
    ...(remote ? { remote } : {}),
    achieved: ran.length / seconds,
    ...(remoteWindow ? { arrivedShare: remoteWindow.due > 0 ? ran.length / remoteWindow.due : 0 } : {}),
    delayP50Ms: quantile(delays, 0.5),
    delayP99Ms: quantile(delays, 0.99),
    delayMaxMs: quantile(delays, 1),
    latencyP50Ms: quantile(latencies, 0.5),
    latencyP99Ms: quantile(latencies, 0.99),
    failed: ran.filter((r) => r.status === "failed").length,
    degraded: ran.filter((r) => r.status === "degraded").length,
    stale: window.filter((r) => r.skipped === "stale").length,
    jobErrors: window.filter((r) => r.failed).length,
    evaluated: (queued - (backlogTo - backlogFrom)) / seconds,
    evaluateBacklog: backlogTo,
    cpu,
    ...(acceptedFrom && acceptedTo && remoteWindow
      ? {
          https: {
            accepted: queued,
            dropped: acceptedTo.dropped - acceptedFrom.dropped,
            webCpuMsPer1000: queued > 0 ? (((cpuTo.web! - cpuFrom.web!) * 1000) / queued) * 1000 : Number.NaN,
            // From the run's slot to the web role having its result: start delay, the probe, and the wait for the next push.
            deliveryP50Ms: quantile(remoteWindow.runs.map((r) => r.deliveryMs), 0.5),
            deliveryP99Ms: quantile(remoteWindow.runs.map((r) => r.deliveryMs), 0.99),
          },
        }
      : {}),
    syncMs,
  };
  log(
    `${label}: ${outcome.achieved.toFixed(0)} runs/s of ${offered} offered${remoteWindow ? ` (${ran.length} of ${remoteWindow.due} runs due in the window arrived)` : ""}; delay p50 ${fmtMs(outcome.delayP50Ms)}, p99 ${fmtMs(outcome.delayP99Ms)}, max ${fmtMs(outcome.delayMaxMs)}; ` +
      `probe latency p50 ${fmtMs(outcome.latencyP50Ms)}, p99 ${fmtMs(outcome.latencyP99Ms)}; ` +
      `failed ${outcome.failed}, degraded ${outcome.degraded}, stale ${outcome.stale}, job errors ${outcome.jobErrors}; evaluated ${outcome.evaluated.toFixed(0)}/s (backlog ${backlogTo})` +
      (outcome.https
        ? `; web role accepted ${outcome.https.accepted} results in the window (${outcome.https.dropped} dropped by the agent), slot to web role p50 ${fmtMs(outcome.https.deliveryP50Ms)}, p99 ${fmtMs(outcome.https.deliveryP99Ms)}`
        : ""),
  );
  log(
    `${label}: CPU % of a core: agent ${cpu.agent.toFixed(0)}, worker ${cpu.worker.toFixed(0)}, gateway ${cpu.gateway.toFixed(0)}, ${https ? `web ${cpu.web.toFixed(0)}, ` : ""}` +
      `redis control ${cpu.redisControl.toFixed(0)}, redis cache ${cpu.redisCache.toFixed(0)}, this runner ${cpu.bench.toFixed(0)}, everything else (kernel, other work) ${cpu.other.toFixed(0)}; ` +
      `machine ${cpu.machine.toFixed(0)} of ${os.cpus().length * 100}`,
  );
  runs.clear();
  return outcome;
}

function fmtMs(ms: number): string {
  return Number.isFinite(ms) ? `${ms.toFixed(0)} ms` : "-";
}

interface Row {
  step: string;
  offered: number;
  runs: number;
  achieved: number;
  delayP50Ms: number;
  delayP99Ms: number;
  agentCpu: number;
  machineCpu: number;
  /** CPU of everything but the stack and the runner (other work on the machine, the kernel): noise. */
  otherCpu: number;
  failed: number;
  stale: number;
  evaluated: number;
  /** The HTTPS agent's row: the web role's CPU ms per 1,000 results it accepted (NaN otherwise). */
  webCpuMsPer1000: number;
  remote: boolean;
  /** Redis agent: achieved ≥ 99 % of offered, nothing stale. HTTPS agent: ≥ 99 % of the runs due arrived, and delay p99 under the goal's. */
  sustained: boolean;
}

function stepName({ offered, hz = 10, protocol, remote }: Step): string {
  if (remote) return `${offered}, HTTPS agent`;
  if (protocol) return `${offered}, websocket probes of ${protocol}`;
  return hz === 10 ? String(offered) : `${offered}, Redis hz ${hz}`;
}

/** One row per step, medians where the step ran more than once. */
function rows(outcomes: StepOutcome[]): Row[] {
  const bySteps = new Map<string, StepOutcome[]>();
  for (const o of outcomes) bySteps.set(stepName(o), [...(bySteps.get(stepName(o)) ?? []), o]);
  const ordered = [...bySteps].sort(([, a], [, b]) => a[0]!.offered - b[0]!.offered || Number(a[0]!.remote ?? false) - Number(b[0]!.remote ?? false) || a[0]!.hz - b[0]!.hz);
  return ordered.map(([step, list]) => {
    const m = (pick: (o: StepOutcome) => number): number => median(list.map(pick));
    const offered = list[0]!.offered;
    const achieved = m((o) => o.achieved);
    const stale = m((o) => o.stale);
    const remote = list[0]!.remote === true;
    const delayP99Ms = m((o) => o.delayP99Ms);
    return {
      step,
      offered,
      runs: list.length,
      achieved,
      delayP50Ms: m((o) => o.delayP50Ms),
      delayP99Ms,
      agentCpu: m((o) => o.cpu.agent),
      machineCpu: m((o) => o.cpu.machine),
      otherCpu: m((o) => o.cpu.other),
      failed: m((o) => o.failed + o.degraded + o.jobErrors),
      stale,
      evaluated: m((o) => o.evaluated),
      webCpuMsPer1000: remote ? m((o) => o.https?.webCpuMsPer1000 ?? Number.NaN) : Number.NaN,
      remote,
      sustained: remote ? m((o) => o.arrivedShare ?? 0) >= SUSTAINED_SHARE && delayP99Ms < HTTPS_GOAL.p99Ms : achieved >= offered * SUSTAINED_SHARE && stale === 0,
    };
  });
}

function formatTable(table: Row[]): string {
  const lines = [
    `| offered runs/s | achieved runs/s | delay p50 | delay p99 | agent CPU | web CPU per 1,000 results | machine CPU (of ${os.cpus().length * 100}%) | of which other work | failed | skipped stale | evaluated/s | sustained | runs |`,
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|",
  ];
  for (const r of table) {
    const web = Number.isFinite(r.webCpuMsPer1000) ? `${r.webCpuMsPer1000.toFixed(0)} ms` : "-";
    lines.push(
      `| ${r.step} | ${r.achieved.toFixed(0)} | ${fmtMs(r.delayP50Ms)} | ${fmtMs(r.delayP99Ms)} | ${r.agentCpu.toFixed(0)}% | ${web} | ${r.machineCpu.toFixed(0)}% | ${r.otherCpu.toFixed(0)}% | ${r.failed} | ${r.remote ? "-" : r.stale} | ${r.evaluated.toFixed(0)} | ${r.sustained ? "yes" : "no"} | ${r.runs} |`,
    );
  }
  return lines.join("\n");
}

/** One per-protocol step: what the agent paid per run, against our own protocol's step of the same run. */
interface ProtocolRow {
  protocol: ProtocolName;
  offered: number;
  achieved: number;
  delayP99Ms: number;
  latencyP50Ms: number;
  agentCpu: number;
  /** Agent CPU milliseconds per probe run. */
  cpuMsPerRun: number;
  /** cpuMsPerRun over our own protocol's. */
  ratio: number;
  brokerCpu: number;
  failed: number;
  sustained: boolean;
  withinRatio: boolean;
}

function protocolRows(outcomes: StepOutcome[]): ProtocolRow[] {
  const perRun = (o: StepOutcome): number => (o.achieved > 0 ? (o.cpu.agent * 10) / o.achieved : Number.NaN);
  const ours = outcomes.find((o) => o.protocol === "pulseboard");
  return outcomes.flatMap((o) => {
    if (!o.protocol) return [];
    const ratio = ours ? perRun(o) / perRun(ours) : Number.NaN;
    return [
      {
        protocol: o.protocol,
        offered: o.offered,
        achieved: o.achieved,
        delayP99Ms: o.delayP99Ms,
        latencyP50Ms: o.latencyP50Ms,
        agentCpu: o.cpu.agent,
        cpuMsPerRun: perRun(o),
        ratio,
        brokerCpu: o.protocol === "pulseboard" ? o.cpu.gateway : o.cpu.broker,
        failed: o.failed + o.degraded + o.jobErrors,
        sustained: o.achieved >= o.offered * SUSTAINED_SHARE && o.stale === 0,
        withinRatio: ratio <= ADAPTER_CPU_RATIO,
      },
    ];
  });
}

function formatProtocolTable(table: ProtocolRow[]): string {
  const lines = [
    "| protocol | offered runs/s | achieved | delay p99 | probe latency p50 | agent CPU | agent CPU per run | × our protocol | broker CPU | failed | sustained |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
  ];
  for (const r of table) {
    lines.push(
      `| ${r.protocol} | ${r.offered} | ${r.achieved.toFixed(0)} | ${fmtMs(r.delayP99Ms)} | ${fmtMs(r.latencyP50Ms)} | ${r.agentCpu.toFixed(0)}% | ${r.cpuMsPerRun.toFixed(2)} ms | ${r.ratio.toFixed(2)} | ${r.brokerCpu.toFixed(0)}% | ${r.failed} | ${r.sustained ? "yes" : "no"} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const most = Math.max(0, ...plan.steps.filter((s) => !s.protocol && !s.remote).map((s) => s.offered));
  const perProtocol = Math.max(0, ...plan.steps.filter((s) => s.protocol).map((s) => s.offered));
  const remote = Math.max(0, ...plan.steps.filter((s) => s.remote).map((s) => s.offered));
  log(`probe benchmark (${plan.name}): ${os.cpus().length} CPUs, Node ${process.version}; steps ${plan.steps.map(stepName).join("; ")} runs/s, ${plan.measureMs / 1000} s windows`);
  const stack = await startStack(procs, most, perProtocol, remote, log);
  teardown.push(() => stack.close());
  const reader = connectRedis(stack.config.redis.target!, { profile: "blocking", name: "bench-events" });
  const runs = new RunLog(reader, `${bullPrefix(stack.config.redis.prefix)}:${probeQueue(LOCATION)}:events`);
  teardown.push(async () => {
    await runs.stop();
    await closeRedis(reader);
  });

  const outcomes: StepOutcome[] = [];
  const seen = new Map<string, number>();
  for (const [i, step] of plan.steps.entries()) {
    const name = stepName(step);
    const rep = (seen.get(name) ?? 0) + 1;
    seen.set(name, rep);
    const reps = plan.steps.filter((s) => stepName(s) === name).length;
    outcomes.push(await runStep(stack, runs, step, `step ${i + 1}/${plan.steps.length} ${name}${reps > 1 ? ` (${rep}/${reps})` : ""}`));
  }
  if (runs.gaps > 0) log(`warning: the event stream was trimmed before it was read ${runs.gaps} time(s); counts are low`);

  const table = rows(outcomes.filter((o) => !o.protocol));
  const byProtocol = protocolRows(outcomes);
  const goalRow = table.find((r) => r.step === String(GOAL.runsPerS));
  const met = goalRow ? goalRow.sustained && goalRow.delayP99Ms < GOAL.p99Ms : undefined;
  const sustainedMax = Math.max(0, ...table.filter((r) => r.step === String(r.offered) && r.sustained && r.delayP99Ms < GOAL.p99Ms).map((r) => r.offered));
  const httpsRow = table.find((r) => r.step === stepName({ offered: HTTPS_GOAL.runsPerS, remote: true }));
  const httpsMet = httpsRow ? httpsRow.sustained && httpsRow.delayP99Ms < HTTPS_GOAL.p99Ms : undefined;
  const seconds = (Date.now() - started) / 1000;
  console.log(`\n${formatTable(table)}\n`);
  console.log(
    `one agent, websocket and redis probes half and half at 1 s; delay = run start − scheduled slot; medians of the runs of each step; ` +
      `CPU in % of one core: the agent alone, and the whole machine (${os.cpus().length} cores) it shares with the gateway, the worker, both Redis servers, this runner and anything else.` +
      (httpsRow
        ? ` HTTPS agent: the same mix on a remote location, one \`pulseboard agent --server\` pushing to the web role; achieved = runs due in the window whose result the web role had ${ARRIVAL_GRACE_MS / 1000} s after it at the latest; delay = run start − its slot (phase in the interval); web CPU per 1,000 results = web role CPU ÷ results it accepted in the window.`
        : ""),
  );
  if (goalRow) console.log(`goal: ${GOAL.runsPerS} runs/s with delay p99 < ${GOAL.p99Ms} ms: ${met ? "met" : "not met"}; highest step sustained within the goal's p99: ${sustainedMax || "none"} runs/s`);
  if (httpsRow) {
    console.log(
      `goal (remote locations): one HTTPS agent at ${HTTPS_GOAL.runsPerS} runs/s, results pushed over HTTP to the web role, ${SUSTAINED_SHARE * 100} % of the runs arriving with delay p99 < ${HTTPS_GOAL.p99Ms} ms: ` +
        `${httpsMet ? "met" : "not met"} (${httpsRow.achieved.toFixed(0)} runs/s, p99 ${fmtMs(httpsRow.delayP99Ms)}); the web role used ${httpsRow.webCpuMsPer1000.toFixed(0)} ms of CPU per 1,000 results`,
    );
  }
  if (byProtocol.length > 0) {
    console.log(`\n${formatProtocolTable(byProtocol)}\n`);
    const costliest = [...byProtocol].sort((a, b) => b.cpuMsPerRun - a.cpuMsPerRun)[0]!;
    console.log(
      `per protocol: every probe a websocket probe (connect, handshake, subscribe, publish, echo) at 1 s against a real broker of that protocol, one step each in this run; ` +
        `agent CPU per run = agent CPU / runs achieved. Goal: at most ${ADAPTER_CPU_RATIO}× our protocol's: ${byProtocol.every((r) => r.withinRatio) ? "met" : `not met by ${byProtocol.filter((r) => !r.withinRatio).map((r) => r.protocol).join(", ")}`}; the most expensive is ${costliest.protocol} (${costliest.ratio.toFixed(2)}×).`,
    );
  }
  const problems = stack.problems();
  printLoggedProblems(problems, "warnings and errors logged (LOG_LEVEL=warn), by kind:");

  if (stepsArg) return log(`done in ${seconds.toFixed(0)} s; --steps: no results file written`);
  const file = writeBenchResult("probes", plan.name, started, {
    parameters: {
      steps: plan.steps.map(stepName),
      warmup_ms: plan.warmupMs,
      measure_ms: plan.measureMs,
      interval_ms: 1_000,
      kinds: "websocket and redis, alternating; per-protocol steps: websocket only; HTTPS-agent steps: the same mix on a remote location",
      https_arrival_grace_ms: ARRIVAL_GRACE_MS,
      probes_per_component: PROBES_PER_COMPONENT,
      agent_concurrency: 64,
      sustained_share: SUSTAINED_SHARE,
    },
    goal: { runs_per_s: GOAL.runsPerS, delay_p99_ms: GOAL.p99Ms, met: met ?? null },
    https_agent_goal: { runs_per_s: HTTPS_GOAL.runsPerS, delay_p99_ms: HTTPS_GOAL.p99Ms, arrived_share: SUSTAINED_SHARE, met: httpsMet ?? null, web_cpu_ms_per_1000_results: httpsRow?.webCpuMsPer1000 ?? null },
    sustained_max_runs_per_s: sustainedMax,
    rows: table,
    protocol_rows: byProtocol,
    adapter_cpu_ratio_goal: ADAPTER_CPU_RATIO,
    steps: outcomes,
    event_stream_gaps: runs.gaps,
    logged_problems: problems.slice(0, 50),
  });
  log(`done in ${seconds.toFixed(0)} s; wrote ${file}`);
}

runBench(main, stopAll);
