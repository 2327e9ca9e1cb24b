/**
 * The runner's side of the client-load processes: forks one load.ts per job,
 * keeps their latest status, and collects their results.
 */
import type { ChildProcess } from "node:child_process";
import type { Processes } from "./servers.ts";
import { sleep, type ChurnResult, type FanoutResult, type FromLoad, type Job, type LoadStatus, type ToLoad } from "./shared.ts";

/** A set of load processes working on one measurement together. */
export class LoadPool {
  private readonly children: ChildProcess[];
  private readonly statuses: LoadStatus[];
  private readonly results: (FanoutResult | ChurnResult | undefined)[];
  private failure?: Error;
  private closing = false;

  /** Forks one load process per job and hands each its job. */
  constructor(
    private readonly procs: Processes,
    jobs: Job[],
  ) {
    this.statuses = jobs.map(() => ({ held: 0, failed: 0, retries: 0, dropped: 0, settled: false }));
    this.results = jobs.map(() => undefined);
    this.children = jobs.map((job, i) => {
      const child = procs.fork("load.ts");
      child.on("message", (message: FromLoad) => {
        if (message.type === "status") this.statuses[i] = message.status;
        else if (message.type === "error") this.failure ??= new Error(`load process ${i} failed: ${message.message}`);
        else this.results[i] = message.result;
      });
      child.once("exit", (code) => {
        if (code !== 0 && !this.closing) this.failure ??= new Error(`load process ${i} exited with ${code}`);
      });
      child.send({ type: "job", job } satisfies ToLoad);
      return child;
    });
  }

  /** The load processes' pids (for their CPU use). */
  get pids(): number[] {
    return this.children.flatMap((c) => (c.pid ? [c.pid] : []));
  }

  /** Every process's status added up; `settled` when all are. */
  total(): LoadStatus & { slowestSettleMs: number } {
    const sum = (pick: (s: LoadStatus) => number): number => this.statuses.reduce((total, s) => total + pick(s), 0);
    return {
      held: sum((s) => s.held),
      failed: sum((s) => s.failed),
      retries: sum((s) => s.retries),
      dropped: sum((s) => s.dropped),
      settled: this.statuses.every((s) => s.settled),
      slowestSettleMs: Math.max(0, ...this.statuses.map((s) => s.settleMs ?? 0)),
    };
  }

  /** Resolves once every process has connected (or given up on) all its clients; `progress` runs every `everyMs`. */
  async settled(timeoutMs: number, progress: () => void, everyMs = 2_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastProgress = Date.now();
    while (!this.total().settled) {
      this.check();
      if (Date.now() > deadline) throw new Error(`clients not connected within ${Math.round(timeoutMs / 1000)} s: ${JSON.stringify(this.total())}`);
      if (Date.now() - lastProgress >= everyMs) {
        progress();
        lastProgress = Date.now();
      }
      await sleep(100);
    }
  }

  broadcast(message: ToLoad): void {
    for (const child of this.children) if (child.connected) child.send(message);
  }

  /** Every process's result, once all have sent one. */
  async collect<T extends FanoutResult | ChurnResult>(timeoutMs: number): Promise<T[]> {
    const deadline = Date.now() + timeoutMs;
    while (this.results.some((r) => r === undefined)) {
      this.check();
      if (Date.now() > deadline) throw new Error(`load processes sent no result within ${Math.round(timeoutMs / 1000)} s`);
      await sleep(100);
    }
    return this.results as T[];
  }

  /** Tells every process to close its clients and exit; kills any that does not. */
  async close(): Promise<void> {
    this.closing = true;
    this.broadcast({ type: "close" });
    const exited = (child: ChildProcess): Promise<void> =>
      child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once("exit", () => resolve()));
    await Promise.race([Promise.all(this.children.map(exited)), sleep(3_000)]);
    await Promise.all(this.children.map((child) => this.procs.kill(child, 5_000)));
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}
