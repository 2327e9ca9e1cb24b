/**
 * The HTTPS-agent steps: one remote agent (`pulseboard agent --server …`,
 * with no Redis URL in its environment) runs the remote location's probes on
 * its own timers and pushes their results over HTTP to the web role
 * (`pulseboard web`), which queues them for the worker. Both processes are
 * started for the step and stopped after it. The runner asks neither of them
 * anything: it reads the web role's count of accepted results (the
 * location's report, which the web role writes with every push) and, once
 * the worker has evaluated them, the results themselves from the status
 * store, each with its start time and the time the web role received it.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";
import { TokenStore } from "../../src/auth/index.ts";
import { freePort, phaseOf } from "../../src/core/index.ts";
import { LocationReports } from "../../src/pipeline/index.ts";
import type { ProbeResult } from "../../src/probe-runtime/index.ts";
import { StatusStore } from "../../src/status/index.ts";
import type { Processes } from "../gateway/servers.ts";
import { sleep } from "../gateway/shared.ts";
import type { Run } from "./observe.ts";
import { REMOTE_LOCATION, type Stack } from "./stack.ts";

/** The web role wants one; the bench uses the admin API not at all (the agent's token is made through the store). */
const ADMIN_TOKEN = "bench-probes-web-admin-token";
const START_WITHIN_MS = 60_000;

/** One HTTPS-agent step's web role and agent, running. */
export interface HttpsAgent {
  pids: { web: number; agent: number };
  /** What the web role has accepted from the remote location so far: results stored once each, and results the agent said it dropped. */
  accepted(): Promise<{ results: number; dropped: number }>;
  /** Stops the agent (it makes one last push) and then the web role. */
  stop(): Promise<void>;
}

/**
 * Starts the web role on a free port of 127.0.0.1 and one agent of the
 * remote location that runs its first `offered` probes (the rest are paused,
 * so the agent's first config leaves them out); resolves once the first push
 * was accepted.
 */
export async function startHttpsAgent(stack: Stack, procs: Processes, offered: number, log: (line: string) => void): Promise<HttpsAgent> {
  if (offered > stack.remoteProbes.length) throw new Error(`an HTTPS-agent step of ${offered} probes, but the config has ${stack.remoteProbes.length} remote probes`);
  const store = new StatusStore(stack.redis, stack.config.redis.prefix);
  for (const [i, probe] of stack.remoteProbes.entries()) await store.setProbePaused(probe, i >= offered);
  const reports = new LocationReports(stack.redis, stack.config.redis.prefix);
  const accepted = async () => {
    const report = (await reports.list(stack.config)).find((l) => l.id === REMOTE_LOCATION)!;
    return { results: report.results_total, dropped: report.dropped_total };
  };

  const { token } = await new TokenStore(stack.redis, stack.config.redis.prefix).create("bench https agent", [`agent:${REMOTE_LOCATION}`]);
  const tokenFile = path.join(stack.home, "agent-token");
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const port = await freePort();
  const server = `http://127.0.0.1:${port}`;
  const web = stack.role("web", ["web"], { env: { PORT: String(port), HOST: "127.0.0.1", ADMIN_TOKEN } });
  await until(`the web role answering ${server}/readyz`, async () => {
    if (web.exitCode !== null) throw new Error(`the web role exited while starting (code ${web.exitCode}):\n${stack.problems().slice(-5).join("\n")}`);
    return (await fetch(`${server}/readyz`).catch(() => undefined))?.ok === true;
  });

  // Only what an agent on another machine would have: no Redis URL, no config file, no proxy.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, LOG_LEVEL: "warn" };
  const agent = stack.role("https agent", ["agent", "--location", REMOTE_LOCATION, "--server", server, "--token-file", tokenFile], { env, replaceEnv: true });
  const before = (await accepted()).results;
  await until("the agent's first accepted push", async () => {
    if (agent.exitCode !== null) throw new Error(`the HTTPS agent exited while starting (code ${agent.exitCode}):\n${stack.problems().slice(-5).join("\n")}`);
    return (await accepted()).results > before;
  });
  log(`https agent pid ${agent.pid} pushing ${offered} probes' results to the web role pid ${web.pid} on ${server}`);

  return {
    pids: { web: web.pid!, agent: agent.pid! },
    accepted,
    async stop() {
      await procs.kill(agent, 10_000);
      await procs.kill(web, 10_000);
      for (const probe of stack.remoteProbes.slice(offered)) await store.setProbePaused(probe, false);
    },
  };
}

/** A run of the HTTPS agent: `at` is when the web role received its result, `lateMs` its start delay. */
export interface HttpsRun extends Run {
  /** From its slot to the web role receiving the result: start delay, the probe itself, the wait for the next push and the push. */
  deliveryMs: number;
}

/** What the remote location's first `offered` probes were due to run in a window, and what of it reached the web role. */
export interface HttpsAgentWindow {
  /** Slots of those probes in the window: the runs offered. */
  due: number;
  /** The results of those slots the web role received (at any time so far). */
  runs: HttpsRun[];
}

/**
 * The runs of the remote location's first `offered` probes whose slot lies
 * in `[from, to)`. Read from the status store, so call it once the evaluate
 * queue is empty.
 */
export async function httpsAgentWindow(stack: Stack, offered: number, from: number, to: number): Promise<HttpsAgentWindow> {
  const store = new StatusStore(stack.redis, stack.config.redis.prefix);
  const intervals = new Map(stack.config.probes.map((p) => [p.id, p.interval]));
  const probes = stack.remoteProbes.slice(0, offered);
  let due = 0;
  for (const probe of probes) {
    const every = intervals.get(probe)!;
    const phase = phaseOf(probe, every);
    due += Math.ceil((to - phase) / every) - Math.ceil((from - phase) / every);
  }
  // The store keeps up to 1,000 results a probe, newest first: at 1 s, far more than one step makes.
  const lists = await Promise.all(probes.map((probe) => store.recentResults(probe, REMOTE_LOCATION, 1_000)));
  const runs = lists.flat().flatMap((result): HttpsRun[] => {
    const every = intervals.get(result.probe)!;
    const lateMs = startDelay(result, every);
    const slot = Date.parse(result.started_at) - lateMs;
    if (!(slot >= from && slot < to)) return [];
    const at = Date.parse(result.received_at ?? "");
    return [{ at, lateMs, latencyMs: result.latency_ms, status: result.status, deliveryMs: at - slot }];
  });
  return { due, runs };
}

/**
 * How long after its slot a run started: the agent runs a probe at
 * `phaseOf(id, interval)` in every interval, so its slot is the latest
 * `k × interval + phase` at or before the start (the agent's clock and the
 * runner's are this machine's). A run more than an interval late would read
 * as less; it cannot happen unnoticed, as it costs the probe its next slot
 * and so shows in the runs achieved.
 */
export function startDelay(result: Pick<ProbeResult, "probe" | "started_at">, intervalMs: number): number {
  const started = Date.parse(result.started_at);
  const phase = phaseOf(result.probe, intervalMs);
  return started - (phase + Math.floor((started - phase) / intervalMs) * intervalMs);
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + START_WITHIN_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${START_WITHIN_MS / 1000} s`);
    await sleep(200);
  }
}
