import { spawn } from "node:child_process";

/** One run of a shell command: `/bin/sh -c command`, with the order in its environment only. */
export interface ShellRun {
  command: string;
  /** The whole environment of the command (nothing else is inherited). */
  env: Record<string, string>;
  cwd?: string;
  /** The command's own limit; the call's signal may end it sooner. */
  timeoutMs: number;
  signal: AbortSignal;
}

/** What the run did. Output is the tail of each stream, at most OUTPUT_LIMIT bytes. */
export interface ShellResult {
  /** The exit code, null when a signal ended the shell. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** More than OUTPUT_LIMIT bytes came on stdout: only its tail is in `stdout`. */
  stdoutCut: boolean;
  tookMs: number;
  /** Set when the run was ended early: by its own timeout, or by the call's signal. */
  stopped?: "timeout" | "aborted";
}

/** Bytes kept of each output stream (the tail). */
export const OUTPUT_LIMIT = 64 * 1024;
/** How long a stopped command's processes have after SIGTERM before SIGKILL. */
export const KILL_GRACE_MS = 2_000;
/** How long to wait for output still in the pipes once the shell exited (a background process may hold them open). */
const DRAIN_MS = 250;

/**
 * Runs the command in a process group of its own, so that stopping it (its
 * timeout, or the call's signal) reaches every process it started: SIGTERM
 * to the group, SIGKILL after KILL_GRACE_MS. Resolves once the shell exited
 * (or the group was stopped); rejects only when the shell could not start.
 */
export function runShell(run: ShellRun): Promise<ShellResult> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn("/bin/sh", ["-c", run.command], { cwd: run.cwd, env: run.env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
    const stdout = new OutputTail();
    const stderr = new OutputTail();
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));

    let stopped: ShellResult["stopped"];
    let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    let settled = false;
    const timers: NodeJS.Timeout[] = [];

    const group = (signal: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // the group has ended already
      }
    };
    const stop = (why: "timeout" | "aborted"): void => {
      if (stopped || exit) return;
      stopped = why;
      group("SIGTERM");
      // Left running past settling on purpose: a process that ignores SIGTERM (and holds no pipe) still gets SIGKILL.
      setTimeout(() => group("SIGKILL"), KILL_GRACE_MS).unref();
      timers.push(setTimeout(finish, KILL_GRACE_MS + DRAIN_MS));
    };
    const finish = (): void => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      run.signal.removeEventListener("abort", onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve({ code: exit?.code ?? null, signal: exit?.signal ?? null, stdout: stdout.text(), stderr: stderr.text(), stdoutCut: stdout.cut, tookMs: Date.now() - started, stopped });
    };
    const onAbort = (): void => stop("aborted");

    child.on("error", (err) => {
      if (settled) return;
      settled = true;
      for (const timer of timers) clearTimeout(timer);
      run.signal.removeEventListener("abort", onAbort);
      reject(err);
    });
    child.on("exit", (code, signal) => {
      exit = { code, signal };
      if (!stopped) timers.push(setTimeout(finish, DRAIN_MS));
    });
    child.on("close", (code, signal) => {
      exit ??= { code, signal };
      finish();
    });
    timers.push(setTimeout(() => stop("timeout"), run.timeoutMs));
    run.signal.addEventListener("abort", onAbort, { once: true });
    if (run.signal.aborted) stop("aborted");
  });
}

/** The last OUTPUT_LIMIT bytes of a stream. */
class OutputTail {
  private chunks: Buffer[] = [];
  private size = 0;
  cut = false;

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size - this.chunks[0]!.length >= OUTPUT_LIMIT) {
      this.size -= this.chunks.shift()!.length;
      this.cut = true;
    }
  }

  text(): string {
    const all = Buffer.concat(this.chunks);
    if (all.length <= OUTPUT_LIMIT) return all.toString("utf8");
    this.cut = true;
    return all.subarray(all.length - OUTPUT_LIMIT).toString("utf8");
  }
}
