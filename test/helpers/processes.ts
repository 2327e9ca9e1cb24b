import { readdirSync, readFileSync } from "node:fs";

/** Every process on the machine: pid → parent pid. */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.set(Number(entry), ppid);
    } catch {
      // the process ended while we looked
    }
  }
  return out;
}

/** The pids of every descendant of `pid` (children, grandchildren, …). */
export function descendants(pid: number): number[] {
  const tree = parents();
  const found: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const current = queue.shift()!;
    for (const [child, parent] of tree) {
      if (parent === current) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

/** The pids whose parent is `pid` (its children only). */
export function children(pid: number): number[] {
  return [...parents()].filter(([, parent]) => parent === pid).map(([child]) => child);
}

export function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();
  } catch {
    return "";
  }
}

/** True while the process exists and is not a zombie. */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/**
 * SIGSTOPs `pid` and resolves once every one of its threads is stopped. kill()
 * returns before that: a thread must be scheduled to start the group stop, and
 * on a busy machine the others (a Go server's, say) go on answering meanwhile.
 */
export async function freeze(pid: number, withinMs = 5_000): Promise<void> {
  process.kill(pid, "SIGSTOP");
  const stopped = (): boolean => {
    try {
      return readdirSync(`/proc/${pid}/task`).every((task) => {
        const stat = readFileSync(`/proc/${pid}/task/${task}/stat`, "utf8");
        return /^[Tt]$/.test(stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3));
      });
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + withinMs;
  while (!stopped()) {
    if (Date.now() > deadline) throw new Error(`process ${pid} was sent SIGSTOP but not every thread had stopped after ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
