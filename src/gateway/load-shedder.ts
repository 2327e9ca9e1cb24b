import { monitorEventLoopDelay } from "node:perf_hooks";

/**
 * Watches the node's event loop: when its delay stays high (the node cannot
 * keep up with its fan-out), new publishes are refused for a while, so the
 * backlog drains instead of growing until the node stops answering anyone.
 * "Stays": two seconds in a row; one long pause (a garbage collection, a
 * node that was stopped and resumed) is not overload.
 */
export class LoadShedder {
  private readonly histogram = monitorEventLoopDelay({ resolution: 20 });
  private readonly timer: NodeJS.Timeout;
  private overloadedUntil = 0;
  private lastP99Ms = 0;
  private previousP99Ms = 0;

  constructor(private readonly thresholdMs = 1_000) {
    this.histogram.enable();
    this.timer = setInterval(() => this.sample(), 1_000);
    this.timer.unref();
  }

  /** Whether to refuse a publish now, with a retry hint spread by jitter. */
  check(): { overloaded: false } | { overloaded: true; retryAfterMs: number; delayMs: number } {
    if (Date.now() >= this.overloadedUntil) return { overloaded: false };
    return { overloaded: true, retryAfterMs: 500 + Math.floor(Math.random() * 1_500), delayMs: this.lastP99Ms };
  }

  /** The event loop delay p99 of the last second, in ms. */
  get delayMs(): number {
    return this.lastP99Ms;
  }

  stop(): void {
    clearInterval(this.timer);
    this.histogram.disable();
  }

  private sample(): void {
    this.previousP99Ms = this.lastP99Ms;
    this.lastP99Ms = Math.round(this.histogram.percentile(99) / 1e6);
    this.histogram.reset();
    if (this.lastP99Ms > this.thresholdMs && this.previousP99Ms > this.thresholdMs) this.overloadedUntil = Date.now() + 2_000;
  }
}
