/**
 * Everything the benchmark starts, and how it makes sure all of it stops:
 * each child gets its own process group (so Ctrl-C reaches only the runner,
 * which then stops them in order) and, where setpriv exists, is killed by
 * the kernel if the runner itself dies; forked children also exit when their
 * IPC channel closes.
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse, stringify } from "yaml";
import { createLogger, findExecutable, freePort } from "../../src/core/index.ts";
import { EmbeddedRedis } from "../../src/supervisor/index.ts";
import { freePortRange } from "../../test/helpers/ports.ts";
import { sleep, type System } from "./shared.ts";

/** The repository root: children run there, and results are written under it. */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const HERE = fileURLToPath(new URL(".", import.meta.url));
const SETPRIV = findExecutable("setpriv", process.env.PATH ?? "");
const ADMIN_TOKEN = "bench-gateway-admin-token";
/** BENCH_CPU_PROF=<dir>: every server and load process writes a V8 CPU profile there when it exits. */
const PROFILE = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];

/** The children and temporary directories of one benchmark run. */
export class Processes {
  private readonly children = new Set<ChildProcess>();
  private readonly stoppers = new Set<() => Promise<void>>();
  private readonly dirs = new Set<string>();

  /** A child in its own process group, tracked until it exits. */
  spawn(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdio?: "pipe" | "inherit" } = {}): ChildProcess {
    const [cmd, argv] = SETPRIV ? [SETPRIV, ["--pdeathsig", "SIGKILL", "--", command, ...args]] : [command, args];
    const child = spawn(cmd, argv, { cwd: REPO_ROOT, env: options.env ?? process.env, detached: true, stdio: ["ignore", options.stdio ?? "pipe", options.stdio ?? "pipe"] });
    return this.track(child);
  }

  /** A TypeScript module of this folder in a forked Node process (IPC; it exits when the runner goes). */
  fork(module: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = fork(path.join(HERE, module), [], { cwd: REPO_ROOT, env, execArgv: ["--import", "tsx", ...PROFILE], detached: true, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    return this.track(child);
  }

  tempDir(name: string): string {
    const dir = mkdtempSync(path.join(os.tmpdir(), `pulseboard-bench-${name}-`));
    this.dirs.add(dir);
    return dir;
  }

  /** Registers a cleanup step that stop() runs (for things not started through spawn/fork). */
  onStop(stop: () => Promise<void>): () => void {
    this.stoppers.add(stop);
    return () => this.stoppers.delete(stop);
  }

  /**
   * SIGTERM to the child (which stops its own children, as the gateway's
   * primary does), SIGKILL to its whole group after `graceMs` and once it exited.
   */
  async kill(child: ChildProcess, graceMs = 5_000): Promise<void> {
    if (exited(child)) return signalGroup(child, "SIGKILL");
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => signalGroup(child, "SIGKILL"), graceMs);
    await gone;
    clearTimeout(timer);
    // Grandchildren (cluster workers) may outlive their parent by a moment.
    signalGroup(child, "SIGKILL");
  }

  /** Stops everything still running and removes temporary directories. */
  async stop(): Promise<void> {
    await Promise.all([...this.stoppers].map((stop) => stop().catch(() => {})));
    await Promise.all([...this.children].map((child) => this.kill(child, 3_000)));
    for (const dir of this.dirs) rmSync(dir, { recursive: true, force: true });
  }

  private track(child: ChildProcess): ChildProcess {
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }
}

function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // the group is gone already
  }
}

/** A throwaway redis-server on a free port of 127.0.0.1. */
export async function startRedis(procs: Processes, name: string): Promise<{ url: string; pid: number }> {
  const binary = findExecutable("redis-server", process.env.PATH ?? "");
  if (!binary) throw new Error("redis-server is not installed: run `node scripts/system-deps.mjs redis-server`");
  const server = new EmbeddedRedis({ name, binary, dir: procs.tempDir(`redis-${name}`), persist: false, setpriv: SETPRIV, log: createLogger({ level: "silent", pretty: false }) });
  procs.onStop(() => server.stop());
  const url = await server.start();
  return { url, pid: server.pid! };
}

/** A set of server processes under test, as the runner sees it. */
export interface Servers {
  system: System;
  /** One URL per server process (node), each reaching that process alone. */
  urls: string[];
  pids(): Promise<number[]>;
  /** Client connections the servers themselves count. */
  connections(): Promise<number>;
  /** Warnings and errors the servers logged (our gateway only). */
  problems(): string[];
  stop(): Promise<void>;
}

/**
 * Our gateway as it runs in production: `pulseboard gateway`, a cluster of
 * `nodes` nodes, with a copy of pulseboard.yaml whose gateway section lifts
 * the per-connection publish rate (the benchmark's publishers need more)
 * and the per-node connection cap (the open-file limit comes first).
 */
export async function startFleet(procs: Processes, options: { nodes: number; cacheUrl: string }): Promise<Servers> {
  const port = await freePortRange(options.nodes + 1);
  const adminPort = await freePort();
  const config = parse(readFileSync(path.join(REPO_ROOT, "pulseboard.yaml"), "utf8")) as Record<string, unknown>;
  config.gateway = { ...(config.gateway as object), host: "127.0.0.1", max_connections: 30_000, publish_rate: 100_000, publish_burst: 100_000 };
  const configFile = path.join(procs.tempDir("config"), "pulseboard.yaml");
  writeFileSync(configFile, stringify(config));
  const child = procs.spawn(process.execPath, [...PROFILE, "bin/pulseboard.js", "gateway"], {
    env: {
      ...process.env,
      PULSEBOARD_CONFIG: configFile,
      GATEWAY_PORT: String(port),
      GATEWAY_NODES: String(options.nodes),
      GATEWAY_ADMIN_PORT: String(adminPort),
      GATEWAY_ADMIN_TOKEN: ADMIN_TOKEN,
      CACHE_REDIS_URL: options.cacheUrl,
      LOG_LEVEL: "warn",
    },
  });
  // The same warning from many nodes and many times is one problem with a count.
  const problems = new Map<string, number>();
  let output = "";
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
    const lines = output.split("\n");
    output = lines.pop()!;
    for (const line of lines) {
      if (!line.trim()) continue;
      const key = summarizeLog(line);
      problems.set(key, (problems.get(key) ?? 0) + 1);
    }
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);

  const admin = async <T>(pathname: string): Promise<T> => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${pathname}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, signal: AbortSignal.timeout(5_000) });
    if (!res.ok) throw new Error(`admin ${pathname}: HTTP ${res.status}`);
    return (await res.json()) as T;
  };
  type Nodes = { nodes: { pid: number | null; state: string }[] };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited(child)) throw new Error(`the gateway exited while starting:\n${[...problems.keys()].slice(-5).join("\n")}`);
    const ready = await admin<Nodes>("/nodes").then((b) => b.nodes.filter((n) => n.state === "ready").length, () => 0);
    if (ready === options.nodes) break;
    if (Date.now() > deadline) throw new Error(`the gateway did not get ${options.nodes} nodes ready within 30 s`);
    await sleep(200);
  }
  return {
    system: "ours",
    urls: Array.from({ length: options.nodes }, (_, i) => `ws://127.0.0.1:${port + 1 + i}/ws`),
    pids: async () => (await admin<Nodes>("/nodes")).nodes.flatMap((n) => (n.pid ? [n.pid] : [])),
    connections: async () => (await admin<{ total: { connections: number } }>("/stats")).total.connections,
    problems: () => [...problems].map(([line, count]) => (count > 1 ? `${count}× ${line}` : line)),
    stop: () => procs.kill(child, 10_000),
  };
}

/**
 * Keeps a gateway log line short: level, message and the fields that say
 * what happened, without time, pid or host, and with this machine's paths
 * taken out (the lines end up in the results file).
 */
function summarizeLog(line: string): string {
  let text: string;
  try {
    const { level, msg, time, pid, hostname, role, ...rest } = JSON.parse(line) as Record<string, unknown>;
    void time, pid, hostname, role;
    text = `[${String(level)}] ${String(msg)} ${JSON.stringify(rest)}`;
  } catch {
    text = line;
  }
  return text.replaceAll(REPO_ROOT, "").replaceAll(os.tmpdir(), "$TMPDIR").slice(0, 300);
}

/** `count` Socket.IO server processes, each on its own port, sharing one Redis through the redis adapter. */
export async function startSocketIo(procs: Processes, options: { count: number; redisUrl: string }): Promise<Servers> {
  const servers = await Promise.all(
    Array.from({ length: options.count }, async () => {
      const port = await freePort();
      const child = procs.fork("socketio-server.ts", { ...process.env, SIO_PORT: String(port), SIO_REDIS_URL: options.redisUrl });
      const pid = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("a Socket.IO server did not listen within 20 s")), 20_000);
        child.once("exit", (code) => reject(new Error(`a Socket.IO server exited (${code}) while starting`)));
        child.on("message", (m: { type: string; pid: number }) => {
          if (m.type !== "ready") return;
          clearTimeout(timer);
          resolve(m.pid);
        });
      });
      return { child, port, pid };
    }),
  );
  const ask = (child: ChildProcess): Promise<number> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => resolve(0), 2_000);
      const onMessage = (m: { type: string; connections: number }): void => {
        if (m.type !== "stats") return;
        clearTimeout(timer);
        child.off("message", onMessage);
        resolve(m.connections);
      };
      child.on("message", onMessage);
      child.send({ type: "stats" });
    });
  return {
    system: "socketio",
    urls: servers.map((s) => `http://127.0.0.1:${s.port}`),
    pids: async () => servers.map((s) => s.pid),
    connections: async () => (await Promise.all(servers.map((s) => ask(s.child)))).reduce((a, b) => a + b, 0),
    problems: () => [],
    stop: async () => {
      await Promise.all(servers.map((s) => procs.kill(s.child)));
    },
  };
}

/** Resident memory of each process, in KiB (VmRSS); 0 for one that is gone. */
export function rssKb(pids: number[]): number[] {
  return pids.map((pid) => {
    try {
      const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      return match ? Number(match[1]) : 0;
    } catch {
      return 0;
    }
  });
}

/** Busy CPU time of the whole machine so far (every process, kernel included), in seconds. */
export function machineCpuSeconds(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
  const busy = fields.slice(0, 8).reduce((a, b, i) => (i === 3 || i === 4 ? a : a + b), 0);
  return busy / 100;
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}
