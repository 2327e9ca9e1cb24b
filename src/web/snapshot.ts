import type { Logger } from "../core/index.ts";
import { describeError } from "../core/index.ts";
import type { StatusSummary } from "../status/index.ts";

export interface SnapshotOptions {
  /** Reads the current summary from the store. */
  read: () => Promise<StatusSummary>;
  /** Calls back on every change the pipeline announces; returns an unsubscribe. */
  subscribe?: (onChange: () => void) => Promise<() => Promise<void>>;
  /** Re-read at least this often, in case an announcement was missed. @defaultValue 5000 */
  refreshMs?: number;
  log: Logger;
}

export interface Snapshot {
  summary: StatusSummary;
  /** When the store could last be read; set only while it cannot. */
  staleSince?: string;
}

/**
 * The status page's in-memory copy of the summary, refreshed on every change
 * and every few seconds. When the store cannot be read, the last good copy
 * keeps being served and says since when it is stale.
 */
export class SnapshotService {
  private snapshot?: Snapshot;
  private lastGoodAt?: string;
  private timer?: NodeJS.Timeout;
  private unsubscribe?: () => Promise<void>;
  private refreshing?: Promise<void>;
  private again = false;
  private readonly log: Logger;

  constructor(private readonly options: SnapshotOptions) {
    this.log = options.log.child({ module: "web.snapshot" });
  }

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.options.refreshMs ?? 5_000);
    this.timer.unref();
    if (this.options.subscribe) {
      try {
        this.unsubscribe = await this.options.subscribe(() => void this.refresh());
      } catch (err) {
        this.log.warn({ err: describeError(err) }, "cannot subscribe to change events; refreshing on a timer only");
      }
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.unsubscribe?.();
  }

  current(): Snapshot | undefined {
    return this.snapshot;
  }

  /** Re-reads the store; concurrent calls coalesce into one read plus one more. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = this.readOnce().finally(() => {
      this.refreshing = undefined;
      if (this.again) {
        this.again = false;
        void this.refresh();
      }
    });
    return this.refreshing;
  }

  private async readOnce(): Promise<void> {
    try {
      const summary = await this.options.read();
      if (this.snapshot?.staleSince) this.log.info("store reachable again; snapshot is fresh");
      this.snapshot = { summary };
      this.lastGoodAt = summary.generated_at;
    } catch (err) {
      if (this.snapshot && !this.snapshot.staleSince) {
        this.log.warn({ err: describeError(err) }, "cannot read the store; serving the last snapshot as stale");
        this.snapshot = { ...this.snapshot, staleSince: this.lastGoodAt };
      } else if (!this.snapshot) {
        this.log.warn({ err: describeError(err) }, "cannot read the store yet");
      }
    }
  }
}
