import type { Redis } from "ioredis";
import { isCluster, type RedisConnection } from "./redis.ts";
import type { Logger } from "pino";
import { describeError, UpstreamError } from "./errors.ts";

export interface ReplicaWaitOptions {
  /** Longest wait for a replica to confirm a write. @defaultValue 1000 */
  timeoutMs?: number;
  /** How long what INFO said of the replicas is trusted. @defaultValue 10000 */
  recheckMs?: number;
  /**
   * On a Redis Cluster, a key of the writes waited for: WAIT and INFO go to
   * the primary of its slot, through the connection the writes took.
   * @defaultValue none (on a cluster, no wait)
   */
  key?: string;
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
 * status page must not stop answering because a replica lags. On a Redis
 * Cluster the wait goes to the primary holding `key`'s slot.
 */
export class ReplicaWait {
  private known?: { replicas: number; at: number; node?: string };
  private slot?: number;
  /** Connections made so far (one server's): a WAIT answered on a later one than its write's says nothing of it. */
  private connections = 0;

  constructor(
    private readonly redis: RedisConnection,
    private readonly options: ReplicaWaitOptions = {},
  ) {
    if (!isCluster(redis)) {
      redis.on("ready", () => {
        this.connections++;
        // Perhaps another server now (a Sentinel failover): its replicas are its own.
        this.known = undefined;
      });
    }
  }

  /**
   * Waits for a replica to confirm the write just made on this connection.
   * Rejects with an UpstreamError when it cannot tell: the connection was
   * lost before the answer (ioredis then sends the WAIT again on the new
   * connection, where it covers none of the write) or the WAIT failed. The
   * write may be gone with the old primary, so it must not be acknowledged;
   * sent again with its idempotency key, it is not done twice.
   */
  async afterWrite(what: string): Promise<ReplicaOutcome> {
    const timeoutMs = this.options.timeoutMs ?? 1_000;
    const connection = this.connections;
    let node: string | undefined;
    try {
      const primary = await this.primary();
      node = primary?.node;
      if (!primary || (await this.replicas(primary)) === 0) return "no replica";
      const confirmed = Number(await primary.redis.call("WAIT", "1", String(timeoutMs)));
      if (this.connections !== connection || (node !== undefined && (await this.primary())?.node !== node)) throw new ConnectionLost();
      if (confirmed >= 1) return "confirmed";
      this.options.log?.warn({ write: what, timeout_ms: timeoutMs }, "no replica confirmed the write in time: it is on the primary only until one catches up");
      // The replica may be gone: look again next time rather than wait on it for the rest of the recheck period.
      this.known = undefined;
      return "unconfirmed";
    } catch (err) {
      // The server refused the command (a managed Redis without WAIT or INFO, an ACL): the connection is fine and
      // the write is on it, as without a replica.
      if (isReplyError(err) && this.connections === connection) {
        this.options.log?.warn({ write: what, err: describeError(err) }, "could not wait for a replica to confirm the write");
        return "unconfirmed";
      }
      // The connection went (a failover, most likely) between the write and its confirmation: the write may be gone
      // with the old primary, so it is not acknowledged.
      const why = err instanceof ConnectionLost ? "the connection to Redis was replaced before a replica confirmed the write" : describeError(err);
      this.options.log?.warn({ write: what, err: why }, "could not learn whether a replica has the write: not acknowledged");
      throw new UpstreamError(`could not confirm that the control plane's Redis kept the ${what} write (${why}); send it again: with its idempotency key it is not done twice`, { cause: err });
    }
  }

  /**
   * The connection the writes went through: the one server's, or on a
   * cluster the pool's connection to the primary of the key's slot (named
   * by its address, since a failover changes it). None on a cluster without
   * a key, or while the slot has no primary.
   */
  private async primary(): Promise<{ redis: Redis; node?: string } | undefined> {
    const redis = this.redis;
    if (!isCluster(redis)) return { redis };
    if (this.options.key === undefined) return undefined;
    this.slot ??= Number(await redis.cluster("KEYSLOT", this.options.key));
    const node = redis.slots[this.slot]?.[0];
    const connection = redis.nodes("master").find((n) => `${n.options.host}:${n.options.port}` === node);
    return connection && { redis: connection, node };
  }

  private async replicas(primary: { redis: Redis; node?: string }): Promise<number> {
    const recheckMs = this.options.recheckMs ?? 10_000;
    // A primary other than the one INFO was read from (a cluster failed over) has replicas of its own.
    if (this.known && this.known.node === primary.node && Date.now() - this.known.at < recheckMs) return this.known.replicas;
    const info = await primary.redis.info("replication");
    const replicas = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? 0);
    this.known = { replicas, at: Date.now(), node: primary.node };
    return replicas;
  }
}

/** An error reply from the server (ioredis' ReplyError), as opposed to a connection that failed. */
function isReplyError(err: unknown): boolean {
  return err instanceof Error && err.name === "ReplyError";
}

/** The WAIT was answered on another connection (or another primary) than the write's. */
class ConnectionLost extends Error {}
