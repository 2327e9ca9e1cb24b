import type { RedisConnection as Redis } from "../core/index.ts";
import { connectRedisLike, describeError, newId, sleep, type Logger } from "../core/index.ts";

/** How long a reader's lease lasts unless it renews it (every round). */
const LEASE_MS = 10_000;

export interface LeasedStreamReaderOptions {
  /** A `command` connection, for the lease, group creation and acknowledgements; the reader blocks on one of its own made like it. */
  connection: Redis;
  streams: string[];
  /** The consumer group; each group reads every entry of the streams once. */
  group: string;
  /** The key of the lease: one reader of the group at a time. */
  leaseKey: string;
  /** Handles one entry; it is acknowledged once this resolves, and read again after a crash before. */
  handle(stream: string, id: string, fields: string[]): Promise<void>;
  log: Logger;
  /** Names the reader in its warnings ("outbox dispatch"). */
  what: string;
}

/**
 * Reads Redis streams through a consumer group, one reader at a time (a
 * lease), so entries are handled in order. An entry is acknowledged only
 * after it was handled, and every reader uses the same consumer name, so a
 * reader that starts after another died first handles the entries its
 * predecessor read but never acknowledged. Handlers must therefore be
 * idempotent (keyed jobs, claims). Failures are retried every second.
 */
export function startLeasedStreamReader(options: LeasedStreamReaderOptions): { close(): Promise<void> } {
  const { connection, streams, group } = options;
  // Outages are reported by the role's own connections, so this one logs nothing.
  const reader = connectRedisLike(connection, { profile: "blocking", name: `${group}-reader` });
  const owner = newId(12);
  const consumer = "dispatcher";
  let running = true;
  let grouped = false;

  const loop = (async () => {
    while (running) {
      try {
        await ensureGroups();
        if (!(await holdLease())) {
          await sleep(1_000);
          continue;
        }
        // Our own pending entries first (left by a crash), then new ones.
        const pending = await read("0");
        const batches = pending.some(([, entries]) => entries.length > 0) ? pending : await read(">");
        for (const [stream, entries] of batches) {
          for (const [id, fields] of entries) {
            await options.handle(stream, id, fields);
            await connection.xack(stream, group, id);
          }
        }
      } catch (err) {
        if (running) {
          options.log.warn({ err: describeError(err) }, `${options.what} failed; retrying`);
          await sleep(1_000);
        }
      }
    }
  })();

  async function ensureGroups(): Promise<void> {
    if (grouped) return;
    for (const stream of streams) {
      try {
        await connection.xgroup("CREATE", stream, group, "0", "MKSTREAM");
      } catch (err) {
        if (!/BUSYGROUP/.test((err as Error).message)) throw err;
      }
    }
    grouped = true;
  }

  async function holdLease(): Promise<boolean> {
    if ((await connection.set(options.leaseKey, owner, "PX", LEASE_MS, "NX")) === "OK") return true;
    if ((await connection.get(options.leaseKey)) !== owner) return false;
    await connection.pexpire(options.leaseKey, LEASE_MS);
    return true;
  }

  async function read(from: "0" | ">"): Promise<[string, [string, string[]][]][]> {
    const answer = (await reader.xreadgroup("GROUP", group, consumer, "COUNT", 100, "BLOCK", from === ">" ? 1_000 : 1, "STREAMS", ...streams, ...streams.map(() => from))) as
      | [string, [string, string[]][]][]
      | null;
    return answer ?? [];
  }

  return {
    /**
     * Stops reading. Waits up to CLOSE_WAIT_MS for the entry in hand (with Redis unreachable its handler may wait
     * for good: the entry is then read again by the next reader); once stopped, gives the lease up so another
     * reader of the group takes over at once instead of when it expires.
     */
    async close() {
      running = false;
      reader.disconnect();
      const stopped = await Promise.race([loop.then(() => true, () => true), sleep(CLOSE_WAIT_MS).then(() => false)]);
      if (!stopped) {
        options.log.warn({ waited_ms: CLOSE_WAIT_MS }, `${options.what} stopped without finishing the entry in hand; the next reader handles it`);
        return;
      }
      await Promise.race([connection.eval(RELEASE_LEASE_LUA, 1, options.leaseKey, owner).catch(() => {}), sleep(1_000)]);
    },
  };
}

/** How long close() waits for the entry being handled. */
const CLOSE_WAIT_MS = 3_000;

/** Deletes the lease if this reader still holds it. */
const RELEASE_LEASE_LUA = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0`;
