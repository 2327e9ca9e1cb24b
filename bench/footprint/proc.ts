import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";

/** Clock ticks per second of /proc/<pid>/stat's times (USER_HZ; 100 on every Linux we run on). */
const TICKS_PER_S = 100;

/** One process of the measured tree, as /proc shows it now. */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** NUL-separated argv joined with spaces. */
  cmdline: string;
  /** Resident set size (VmRSS), bytes: every page mapped, shared ones (the node binary's) counted in full. */
  rss: number;
  /** Proportional set size (smaps_rollup Pss), bytes: each shared page divided among the processes mapping it. */
  pss: number;
  /** utime + stime, in seconds of CPU. */
  cpuS: number;
}

/** The fields of /proc/<pid>/stat after the command name, which may itself hold spaces and parentheses. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

/** What /proc says of `pid`; undefined once it has ended (or is a zombie). */
export function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const fields = statFields(pid);
    if (fields[0] === "Z") return undefined;
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const rssKb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
    const pssKb = Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"))?.[1] ?? Number.NaN);
    // stat fields (1-based, man proc): 4 ppid, 14 utime, 15 stime; fields[0] is field 3 (state).
    return { pid, ppid: Number(fields[1]), cmdline, rss: rssKb * 1024, pss: pssKb * 1024, cpuS: (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S };
  } catch {
    return undefined;
  }
}

/** The direct children of `pid`, from every thread's children list. */
function childrenOf(pid: number): number[] {
  const found: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return found;
  }
  for (const task of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
      if (text) found.push(...text.split(/\s+/).map(Number));
    } catch {
      // the thread ended while we looked
    }
  }
  return found;
}

/** `root` and every live descendant of it, parents before their children. */
export function processTree(root: number): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    const info = readProcess(pid);
    if (!info) continue;
    out.push(info);
    queue.push(...childrenOf(pid));
  }
  return out;
}

/**
 * A process's role, from its command line: the pulseboard command (and
 * `agent:<location>`), `gateway` for the gateway's primary, `gateway node` for a cluster worker of it,
 * `redis-server control|cache` by the pid files `start` keeps in
 * PULSEBOARD_HOME, else the program's base name.
 */
export function roleOf(info: ProcessInfo, tree: ProcessInfo[], redisPids: Map<number, string>): string {
  const redis = redisPids.get(info.pid);
  if (redis) return `redis-server ${redis}`;
  const args = info.cmdline.split(" ");
  if (args.some((a) => /(?:^|\/)node-main\.[jt]s$/.test(a))) return "gateway node";
  if (args.some((a) => /(?:^|\/)primary-main\.[jt]s$/.test(a))) return "gateway";
  if (args.some((a) => /(?:^|\/)scripts\/start\.mjs$/.test(a))) return "start";
  const main = args.findIndex((a) => /(?:^|\/)(?:main\.[jt]s|pulseboard(?:\.js)?)$/.test(a));
  if (main < 0) return path.basename(args[0] ?? "?") + (args[1] ? ` ${path.basename(args[1])}` : "");
  const command = args.slice(main + 1).filter((a) => !a.startsWith("-"));
  const role = command[0] ?? "?";
  if (role === "agent") return `agent:${args[args.indexOf("--location") + 1] ?? "?"}`;
  const parent = tree.find((p) => p.pid === info.ppid);
  if (parent && parent.cmdline === info.cmdline) return `${role} node`;
  return role;
}

/** The pids of the embedded redis-servers under `home`, by name (`control`, `cache`). */
export function embeddedRedisPids(home: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of ["control", "cache"]) {
    try {
      const { pid } = JSON.parse(readFileSync(path.join(home, "redis", name, "redis-server.pid"), "utf8")) as { pid: number };
      out.set(pid, name);
    } catch {
      // not embedded (a URL was given) or not started yet
    }
  }
  return out;
}
