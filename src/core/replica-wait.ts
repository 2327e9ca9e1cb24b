import type { Redis } from "ioredis";
import type { Logger } from "pino";
import { describeError } from "./errors.ts";

export interface ReplicaWaitOptions {
  /** Longest wait for a replica to confirm a write. @defaultValue 1000 */
  timeoutMs?: number;
  /** How long what INFO said of the replicas is trusted. @defaultValue 10000 */
  recheckMs?: number;
  log?: Logger;
}

/** What a wait came to: no replica to wait for, confirmed by one, or not confirmed in time. */
export type ReplicaOutcome = "no replica" | "confirmed" | "unconfirmed";

/**
 * Makes an acknowledged write survive a failover: after it, when the Redis
 * has a replica (INFO replication, looked at again every few seconds), the
 * same connection sends `WAIT 1 <timeout>`, which returns once a replica has
 * every write this connection made. Without a replica (the embedded
 * default) it costs nothing. A replica that does not confirm in time is
 * logged and the write is answered anyway: it is on the primary, and the
 * status page must not stop answering because a replica lags.
 */
export class ReplicaWait {
  private known?: { replicas: number; at: number };

  constructor(
    private readonly redis: Redis,
    private readonly options: ReplicaWaitOptions = {},
  ) {}

  async afterWrite(what: string): Promise<ReplicaOutcome> {
    const timeoutMs = this.options.timeoutMs ?? 1_000;
    try {
      if ((await this.replicas()) === 0) return "no replica";
      const confirmed = Number(await this.redis.call("WAIT", "1", String(timeoutMs)));
      if (confirmed >= 1) return "confirmed";
      this.options.log?.warn({ write: what, timeout_ms: timeoutMs }, "no replica confirmed the write in time: it is on the primary only until one catches up");
      // The replica may be gone: look again next time rather than wait on it for the rest of the recheck period.
      this.known = undefined;
      return "unconfirmed";
    } catch (err) {
      this.options.log?.warn({ write: what, err: describeError(err) }, "could not wait for a replica to confirm the write");
      return "unconfirmed";
    }
  }

  private async replicas(): Promise<number> {
    const recheckMs = this.options.recheckMs ?? 10_000;
    if (this.known && Date.now() - this.known.at < recheckMs) return this.known.replicas;
    const info = await this.redis.info("replication");
    const replicas = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    this.known = { replicas, at: Date.now() };
    return replicas;
  }
}
