import { spawn, type ChildProcess } from "node:child_process";
import { sleep, type Logger } from "../core/index.ts";

export interface ChildSpec {
  /** Name in logs: `web`, `agent:local`, `gateway`, … */
  name: string;
  /** Arguments after the node binary. */
  args: string[];
  env: NodeJS.ProcessEnv;
  /** Sent over IPC when the child says hello, at each of its starts (settings that should not sit in its environment). */
  settings?: object;
}

/** Message a role sends its parent once it serves. */
export interface ReadyMessage {
  type: "ready";
  role: string;
  detail?: Record<string, unknown>;
}

/** Exit status meaning "the configuration is wrong": restarting would not help. */
const CONFIG_EXIT = 2;
const BACKOFF_START_MS = 1_000;
const BACKOFF_MAX_MS = 30_000;
/** A child that ran this long before dying starts over from the shortest backoff. */
const HEALTHY_AFTER_MS = 30_000;

interface Supervised {
  spec: ChildSpec;
  process?: ChildProcess;
  backoff: number;
  startedAt: number;
  stopped: boolean;
}

/**
 * Runs each role as a child process of `pulseboard start`, restarting one
 * that crashes (with backoff). A child that exits cleanly, for instance after
 * someone sent it SIGTERM, stays stopped: that is how a person stops one role
 * (the gateway, say) by hand.
 */
export class ChildSupervisor {
  private readonly children = new Map<string, Supervised>();
  private stopping = false;
  private readonly log: Logger;

  constructor(
    log: Logger,
    private readonly onReady: (message: ReadyMessage, name: string) => void = () => {},
  ) {
    this.log = log.child({ module: "supervisor" });
  }

  start(spec: ChildSpec): void {
    const entry: Supervised = { spec, backoff: BACKOFF_START_MS, startedAt: Date.now(), stopped: false };
    this.children.set(spec.name, entry);
    this.launch(entry);
  }

  pids(): Record<string, number | undefined> {
    return Object.fromEntries([...this.children].map(([name, c]) => [name, c.process?.pid]));
  }

  /** SIGTERM to every child, SIGKILL to any still running after `graceMs`. */
  async stopAll(graceMs: number): Promise<void> {
    this.stopping = true;
    const running = [...this.children.values()].filter((c) => c.process && c.process.exitCode === null && c.process.signalCode === null);
    await Promise.all(
      running.map(async (child) => {
        const proc = child.process!;
        const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
        proc.kill("SIGTERM");
        const timer = setTimeout(() => {
          this.log.warn({ child: child.spec.name, child_pid: proc.pid }, "child did not stop in time; killing it");
          proc.kill("SIGKILL");
        }, graceMs);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  private launch(entry: Supervised): void {
    const proc = spawn(process.execPath, entry.spec.args, { env: entry.spec.env, stdio: ["ignore", "inherit", "inherit", "ipc"] });
    entry.process = proc;
    entry.startedAt = Date.now();
    proc.on("message", (message: ReadyMessage | { type: "hello" }) => {
      if (message?.type === "ready") this.onReady(message, entry.spec.name);
      // The child asks once it listens: a message sent before it has a listener would be lost.
      else if (message?.type === "hello" && entry.spec.settings && proc.connected) proc.send({ type: "settings", settings: entry.spec.settings });
    });
    proc.once("error", (err) => this.log.error({ child: entry.spec.name, err: err.message }, "cannot start child process"));
    proc.once("exit", (code, signal) => void this.onExit(entry, code, signal));
  }

  private async onExit(entry: Supervised, code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    if (this.stopping) return;
    const name = entry.spec.name;
    if (code === 0) {
      entry.stopped = true;
      this.log.warn({ child: name }, "child stopped cleanly; it stays stopped until pulseboard start is restarted");
      return;
    }
    if (code === CONFIG_EXIT) {
      entry.stopped = true;
      this.log.error({ child: name }, "child refused its configuration; not restarting it");
      return;
    }
    if (Date.now() - entry.startedAt > HEALTHY_AFTER_MS) entry.backoff = BACKOFF_START_MS;
    this.log.error({ child: name, code, signal, restartInMs: entry.backoff }, "child crashed; restarting it");
    await sleep(entry.backoff);
    entry.backoff = Math.min(entry.backoff * 2, BACKOFF_MAX_MS);
    if (!this.stopping) this.launch(entry);
  }
}
