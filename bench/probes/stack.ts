/**
 * The stack the probe benchmark runs against, each part its own process:
 * a control-plane redis-server (BullMQ queues and the status store), a cache
 * redis-server (the gateway's, and what the redis probes check), a gateway
 * fleet of one node (what the websocket probes check), the worker role
 * (evaluates every result) and the agent under test (`pulseboard agent`);
 * for the per-protocol steps also a broker of each other protocol
 * (brokers.ts), with websocket probes of each protocol in the config; for
 * the HTTPS-agent steps a remote location with probes of its own, whose web
 * role and agent remote.ts starts and stops around each such step.
 */
import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { Queue } from "bullmq";
import { parseConfig, type Config } from "../../src/config/index.ts";
import { closeRedis, connectRedis } from "../../src/core/index.ts";
import { channelKinds } from "../../src/notify/index.ts";
import { bullPrefix, probeQueue, QUEUE } from "../../src/pipeline/index.ts";
import { PROTOCOLS, ProbeRegistry, type ProtocolName } from "../../src/probe-runtime/index.ts";
import { Processes, REPO_ROOT, startFleet, startRedis } from "../gateway/servers.ts";
import { sleep } from "../gateway/shared.ts";
import { startBrokers, type BenchBroker } from "./brokers.ts";

export const LOCATION = "bench";
/** The remote location (`remote: true`) of the HTTPS-agent steps: its agent pushes to the web role. */
export const REMOTE_LOCATION = "bench-remote";
/** Probes feeding one component: each component has this many, half of each kind. */
export const PROBES_PER_COMPONENT = 10;
/** BENCH_CPU_PROF=<dir>: the agent and the worker write a V8 CPU profile there when they exit. */
const PROFILE = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${path.resolve(process.env.BENCH_CPU_PROF)}`] : [];

export interface Stack {
  /** Every probe the agent knows, alternating websocket and redis; a step schedules the first N. */
  config: Config;
  /** A `command` connection to the control plane, for the bench's own reads. */
  redis: ReturnType<typeof connectRedis>;
  /** A `blocking` connection for BullMQ queues (schedules, counts). */
  queues: ReturnType<typeof connectRedis>;
  pids: { agent: number; worker: number; gateway: () => Promise<number[]>; controlRedis: number; cacheRedis: number };
  /** The remote location's probes, websocket and redis alternating (empty without HTTPS-agent steps). */
  remoteProbes: string[];
  /**
   * Starts `bin/pulseboard.js <args>` as its own process with the stack's
   * environment plus `env` (`replaceEnv`: only `env`), its warnings and
   * errors collected with the others under `name`.
   */
  role(name: string, args: string[], options?: { env?: NodeJS.ProcessEnv; replaceEnv?: boolean }): ChildProcess;
  /** The stack's PULSEBOARD_HOME (a temporary directory). */
  home: string;
  /** The broker of each protocol the per-protocol steps probe (ours included). */
  brokers: Record<ProtocolName, BenchBroker>;
  /** Warnings and errors the agent, worker and gateway logged, with counts. */
  problems(): string[];
  /** The evaluate queue's unfinished jobs (waiting, active, delayed, prioritized). */
  evaluateBacklog(): Promise<number>;
  /** The probe queue's unfinished jobs that are due or running (waiting, active). */
  probeBacklog(): Promise<number>;
  close(): Promise<void>;
}

/** The id of the `n`th probe of the HTTPS-agent steps: websocket and redis alternating, as in the mixed steps. */
export function remoteProbeId(i: number): string {
  return `${i % 2 === 0 ? "rws" : "rredis"}-${pad(Math.floor(i / 2))}`;
}

/** The id of the `n`th websocket probe of a per-protocol step. */
export function protocolProbeId(protocol: ProtocolName, n: number): string {
  return `ws-${protocol.replace(/\W/g, "")}-${pad(n)}`;
}

/**
 * The config text: `count` probes at 1 s, one component per
 * PROBES_PER_COMPONENT of them, websocket and redis alternating; then
 * `perProtocol` websocket probes of each protocol, on their own components;
 * then `remote` probes of the remote location, mixed as the first ones and on
 * components of their own. Every probe names its one location: by default a
 * probe runs from every location, the remote one included.
 */
function configText(count: number, wsUrl: string, cacheUrl: string, brokers: Record<ProtocolName, BenchBroker>, perProtocol: number, remote: number): string {
  const components = Math.ceil(count / PROBES_PER_COMPONENT);
  const lines = [
    "page: { name: Probe bench, url: http://127.0.0.1 }",
    "log: { level: warn }",
    `locations: [{ id: ${LOCATION} }${remote > 0 ? `, { id: ${REMOTE_LOCATION}, name: HTTPS agent, remote: true }` : ""}]`,
    "components:",
    ...Array.from({ length: components }, (_, c) => `  - { id: c${pad(c)}, name: Component ${c} }`),
    ...Array.from({ length: Math.ceil(remote / PROBES_PER_COMPONENT) }, (_, c) => `  - { id: r${pad(c)}, name: Remote component ${c} }`),
    "probes:",
  ];
  const mixed = (id: string, i: number, component: string, location: string): string =>
    // Each websocket probe echoes on its own channel, as real probes of different features do; the redis probes name their Redis (a remote agent knows no cache URL of ours).
    i % 2 === 0
      ? `  - { id: ${id}, kind: websocket, interval: 1s, locations: [${location}], components: [${component}], with: { url: "${wsUrl}", channel: bench.${id} } }`
      : `  - { id: ${id}, kind: redis, interval: 1s, locations: [${location}], components: [${component}], with: { url: "${cacheUrl}", key_prefix: "bench:probe:" } }`;
  for (let i = 0; i < count; i++) lines.push(mixed(`${i % 2 === 0 ? "ws" : "redis"}-${pad(Math.floor(i / 2))}`, i, `c${pad(Math.floor(i / PROBES_PER_COMPONENT))}`, LOCATION));
  for (const protocol of PROTOCOLS) {
    const name = protocol.replace(/\W/g, "");
    // As many probes per component as the mixed steps have: the evaluator takes one component's results one at a time.
    const components = Array.from({ length: Math.ceil(perProtocol / PROBES_PER_COMPONENT) }, (_, c) => `p-${name}-${pad(c)}`);
    lines.splice(lines.indexOf("probes:"), 0, ...components.map((id) => `  - { id: ${id}, name: ${protocol} probes ${id} }`));
    for (let n = 0; n < perProtocol; n++) {
      const component = components[Math.floor(n / PROBES_PER_COMPONENT)];
      const settings = { protocol, ...brokers[protocol].settings, channel: `bench.${name}-${pad(n)}` };
      lines.push(`  - { id: ${protocolProbeId(protocol, n)}, kind: websocket, interval: 1s, locations: [${LOCATION}], components: [${component}], with: ${JSON.stringify(settings)} }`);
    }
  }
  for (let i = 0; i < remote; i++) lines.push(mixed(remoteProbeId(i), i, `r${pad(Math.floor(i / PROBES_PER_COMPONENT))}`, REMOTE_LOCATION));
  return `${lines.join("\n")}\n`;
}

function pad(n: number): string {
  return String(n).padStart(4, "0");
}

/**
 * Starts everything; `probes` is the most any step schedules, `perProtocol`
 * the most a per-protocol step does, `remote` the most an HTTPS-agent step
 * runs (its web role and agent are remote.ts's to start).
 */
export async function startStack(procs: Processes, probes: number, perProtocol: number, remote: number, log: (line: string) => void): Promise<Stack> {
  const [control, cache] = await Promise.all([startRedis(procs, "control"), startRedis(procs, "cache")]);
  log(`redis-server: control plane pid ${control.pid}, cache pid ${cache.pid}`);
  const gateway = await startFleet(procs, { nodes: 1, cacheUrl: cache.url });
  log(`gateway: 1 node, pid ${(await gateway.pids()).join(", ")}`);
  const brokers = await startBrokers(procs, gateway.urls[0]!, () => gateway.pids());
  log(`brokers: ${PROTOCOLS.filter((p) => p !== "pulseboard").map((p) => `${p} pid ${brokers[p].pids.join(", ")}`).join("; ")}`);

  const home = procs.tempDir("probes-home");
  const file = path.join(home, "pulseboard.yaml");
  const text = configText(probes, gateway.urls[0]!, cache.url, brokers, perProtocol, remote);
  writeFileSync(file, text);
  const env = { REDIS_URL: control.url, CACHE_REDIS_URL: cache.url, PULSEBOARD_HOME: home, PULSEBOARD_CONFIG: file, LOG_LEVEL: "warn" };
  const config = parseConfig(text, { file, env, cwd: home, probeKinds: await ProbeRegistry.load(), channelKinds });

  const problems = new Map<string, number>();
  const role: Stack["role"] = (name, args, options = {}) => {
    const childEnv = options.replaceEnv ? options.env : { ...process.env, ...env, ...options.env };
    const child = procs.spawn(process.execPath, [...PROFILE, "bin/pulseboard.js", ...args], { env: childEnv });
    collectLines(child, (line) => {
      const key = `${name}: ${summarizeLog(line)}`;
      problems.set(key, (problems.get(key) ?? 0) + 1);
    });
    return child;
  };
  const worker = role("worker", ["worker"]);
  const agent = role("agent", ["agent", "--location", LOCATION]);

  const redis = connectRedis(control.url, { profile: "command", name: "bench" });
  const queues = connectRedis(control.url, { profile: "blocking", name: "bench-queues" });
  const prefix = bullPrefix(config.redis.prefix);
  const probeQ = new Queue(probeQueue(LOCATION), { connection: queues, prefix });
  const evaluateQ = new Queue(QUEUE.evaluate, { connection: queues, prefix });
  const deadline = Date.now() + 60_000;
  while ((await probeQ.getWorkersCount()) === 0 || (await evaluateQ.getWorkersCount()) === 0) {
    for (const [name, child] of [["agent", agent], ["worker", worker]] as const) {
      if (child.exitCode !== null) throw new Error(`the ${name} exited while starting:\n${[...problems.keys()].slice(-5).join("\n")}`);
    }
    if (Date.now() > deadline) throw new Error("the agent and worker did not start consuming their queues within 60 s");
    await sleep(200);
  }
  log(`agent pid ${agent.pid}, worker pid ${worker.pid}: consuming ${probeQueue(LOCATION)} and ${QUEUE.evaluate}`);

  const unfinished = async (queue: Queue, states: ("waiting" | "active" | "delayed" | "prioritized")[]): Promise<number> =>
    Object.values(await queue.getJobCounts(...states)).reduce((a, b) => a + b, 0);
  return {
    config,
    redis,
    queues,
    pids: { agent: agent.pid!, worker: worker.pid!, gateway: () => gateway.pids(), controlRedis: control.pid, cacheRedis: cache.pid },
    remoteProbes: Array.from({ length: remote }, (_, i) => remoteProbeId(i)),
    role,
    home,
    brokers,
    problems: () =>
      [...problems]
        .map(([line, count]) => (count > 1 ? `${count}× ${line}` : line))
        // startFleet asks for more connections than the open-file limit allows, on purpose (the limit comes first); not a problem here.
        .concat(gateway.problems().filter((p) => !p.includes("max_connections is above")).map((p) => `gateway: ${p}`)),
    evaluateBacklog: () => unfinished(evaluateQ, ["waiting", "active", "delayed", "prioritized"]),
    probeBacklog: () => unfinished(probeQ, ["waiting", "active"]),
    async close() {
      await Promise.all([probeQ.close(), evaluateQ.close()]);
      await Promise.all([closeRedis(redis), closeRedis(queues)]);
      // The agent first: its in-flight probes still talk to the gateway and the cache.
      await procs.kill(agent, 10_000);
      await Promise.all([procs.kill(worker, 10_000), gateway.stop()]);
    },
  };
}

/** Calls `onLine` for every non-empty line the child writes. */
function collectLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream?.on("data", (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split("\n");
      rest = lines.pop()!;
      for (const line of lines) if (line.trim()) onLine(line);
    });
  }
}

/**
 * A log line without time, pid, the probe's id or figures that change from
 * line to line, so one kind of problem is one entry with a count; this
 * machine's paths are taken out (the lines go into the results file).
 */
function summarizeLog(line: string): string {
  let text: string;
  try {
    const { level, msg, time, pid, hostname, role, probe, lateMs, latency_ms, job, ...rest } = JSON.parse(line) as Record<string, unknown>;
    void time, pid, hostname, role, probe, lateMs, latency_ms, job;
    text = `[${String(level)}] ${String(msg)} ${JSON.stringify(rest)}`;
  } catch {
    text = line;
  }
  return text.replaceAll(REPO_ROOT, "").replaceAll(os.tmpdir(), "$TMPDIR").replace(/127\.0\.0\.1:\d+/g, "127.0.0.1:<port>").slice(0, 300);
}
