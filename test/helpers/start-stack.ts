import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "../../src/core/index.ts";
import { REPO_ROOT } from "./config.ts";
import { freePortRange } from "./ports.ts";
import { alive, commandLine, descendants } from "./processes.ts";
import { waitFor } from "./wait.ts";

/** The compiled CLI (`npm run build`): the e2e tests run what users run. */
export const MAIN = path.join(REPO_ROOT, "dist/src/main.js");

/** How each process of the embedded stack shows in /proc/<pid>/cmdline. */
export const ROLE_PATTERNS = {
  web: / \S*main\.js web$/,
  core: / \S*main\.js core$/,
  gateway: /primary-main\.js$/,
  node: /node-main\.js$/,
  redis: /^\S*redis-server /,
} as const;

export type StackRole = keyof typeof ROLE_PATTERNS;

/** The processes under `start`, by role. */
export type StackTree = Record<StackRole, number[]>;

/** A fresh PULSEBOARD_HOME and free ports for one `pulseboard start`, with no outside Redis, token or config file. */
export async function stackEnv(): Promise<NodeJS.ProcessEnv> {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    PORT: String(await freePort()),
    GATEWAY_PORT: String(await freePortRange(3)),
    GATEWAY_ADMIN_PORT: String(await freePort()),
    PULSEBOARD_HOME: mkdtempSync(path.join(os.tmpdir(), "pulseboard-stack-")),
    LOG_LEVEL: "info",
  };
  for (const name of ["REDIS_URL", "CACHE_REDIS_URL", "ADMIN_TOKEN", "PULSEBOARD_CONFIG"]) delete env[name];
  return env;
}

/** `pulseboard start` from the compiled CLI, in its own process group, its output kept. */
export class StartStack {
  readonly output: string[] = [];
  readonly proc: ChildProcess;

  constructor(readonly env: NodeJS.ProcessEnv) {
    this.proc = spawn(process.execPath, [MAIN, "start"], { cwd: REPO_ROOT, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer) => this.output.push(...chunk.toString().split("\n").filter(Boolean));
    this.proc.stdout!.on("data", keep);
    this.proc.stderr!.on("data", keep);
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get home(): string {
    return this.env.PULSEBOARD_HOME!;
  }

  /** Every TCP port the stack listens on: the page, the gateway's shared port and each node's own, the fleet admin API, both embedded Redis. */
  ports(): number[] {
    const gateway = Number(this.env.GATEWAY_PORT);
    const redis = (["control", "cache"] as const).map((name) => this.redisPidFile(name)?.port).filter((port) => port !== undefined);
    return [Number(this.env.PORT), gateway, gateway + 1, gateway + 2, Number(this.env.GATEWAY_ADMIN_PORT), ...redis];
  }

  /** What the embedded Redis `name` wrote in its pid file; undefined while there is none. */
  redisPidFile(name: "control" | "cache"): { pid: number; port: number } | undefined {
    try {
      return JSON.parse(readFileSync(path.join(this.home, "redis", name, "redis-server.pid"), "utf8"));
    } catch {
      return undefined;
    }
  }

  /** The processes under start now, by role. */
  tree(): StackTree {
    const all = descendants(this.pid).map((pid) => ({ pid, command: commandLine(pid) }));
    const of = (role: StackRole) => all.filter(({ command }) => ROLE_PATTERNS[role].test(command)).map(({ pid }) => pid);
    return { web: of("web"), core: of("core"), gateway: of("gateway"), node: of("node"), redis: of("redis") };
  }

  /** Waits for the page, then for the whole tree (two redis-servers, web, core, the gateway primary and two nodes); returns it. */
  async whenServing(): Promise<StackTree> {
    await waitFor("the status page", async () => (await fetch(`http://127.0.0.1:${this.env.PORT}/`)).status === 200, 60_000, 250).catch((err: Error) => {
      throw new Error(`${err.message}\n${this.output.slice(-20).join("\n")}`);
    });
    return waitFor("every process of the stack", () => {
      const tree = this.tree();
      const whole = tree.redis.length === 2 && tree.web.length === 1 && tree.core.length === 1 && tree.gateway.length === 1 && tree.node.length >= 2;
      return whole ? tree : undefined;
    }, 20_000, 200).catch((err: Error) => {
      throw new Error(`${err.message}; running:\n  ${this.describe(descendants(this.pid))}`);
    });
  }

  /** The log lines (pino JSON) of start and its children. */
  logs(): Record<string, unknown>[] {
    return this.output.flatMap((line) => {
      if (!line.startsWith("{")) return [];
      try {
        return [JSON.parse(line) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  }

  /** `pid command` for each of `pids` still alive, one a line. */
  describe(pids: number[]): string {
    return pids.filter(alive).map((pid) => `${pid} ${commandLine(pid)}`).join("\n  ");
  }

  /** SIGKILL to the process group and to every recorded pid (one that left the group is not reached by -pgid), then removes the home. */
  cleanUp(recorded: number[] = []): void {
    killAll([-this.pid, ...recorded]);
    rmSync(this.home, { recursive: true, force: true });
  }
}

/** SIGKILL to each pid (a negative one is a process group), ignoring those already gone. */
export function killAll(targets: number[]): void {
  for (const target of targets) {
    try {
      process.kill(target, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/** Every pid of a tree, flattened. */
export function pidsOf(tree: StackTree): number[] {
  return Object.values(tree).flat();
}

/** The live processes (zombies left out) whose process group is `pgid`: what a group signal would reach. */
export function groupMembers(pgid: number): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]) === pgid && alive(pid);
      } catch {
        return false; // the process ended while we looked
      }
    });
}

/** Whether nothing listens on `port` on any local address (0.0.0.0 conflicts with every IPv4 and dual-stack listener). */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer().once("error", () => resolve(false));
    server.listen(port, "0.0.0.0", () => server.close(() => resolve(true)));
  });
}
