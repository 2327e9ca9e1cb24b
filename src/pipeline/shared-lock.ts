import { randomBytes } from "node:crypto";
import { sleep, type RedisConnection } from "../core/index.ts";
import { KeyedLock } from "./keyed-lock.ts";

/** Takes every key or none: a key held by another holder leaves them all alone. */
const ACQUIRE_LUA = `
for _, key in ipairs(KEYS) do
  if redis.call('exists', key) == 1 then return 0 end
end
for _, key in ipairs(KEYS) do redis.call('set', key, ARGV[1], 'PX', ARGV[2]) end
return 1`;

/** Lets go of the keys this holder still holds (one that expired and was taken since is another's). */
const RELEASE_LUA = `
for _, key in ipairs(KEYS) do
  if redis.call('get', key) == ARGV[1] then redis.call('del', key) end
end
return 1`;

export interface SharedKeyedLockOptions {
  /** A key held this long is let go of by Redis (its holder died). @defaultValue 10 s */
  ttlMs?: number;
  /** How long a caller waits for keys another process holds before its work fails (to be retried). @defaultValue 20 s */
  waitMs?: number;
}

/**
 * A KeyedLock that also holds across processes: the worker replicas'
 * evaluators, each taking results off the same queue, evaluate the results
 * of one probe or component one at a time between them, not only within
 * each. Within a process, callers keep the order they asked in (the
 * KeyedLock); between processes, a caller takes all its keys at once in
 * Redis (none, while another holds any), so two never wait for each other.
 * A holder that dies lets go after `ttlMs`. The keys live under `prefix`
 * (hash-tagged on a Redis Cluster, so one script sees them all).
 */
export class SharedKeyedLock {
  private readonly local = new KeyedLock();
  private readonly ttlMs: number;
  private readonly waitMs: number;

  constructor(
    private readonly redis: RedisConnection,
    private readonly prefix: string,
    options: SharedKeyedLockOptions = {},
  ) {
    this.ttlMs = options.ttlMs ?? 10_000;
    this.waitMs = options.waitMs ?? 20_000;
  }

  /** Runs `work` once no caller, in this process or another, holds any of `keys`. */
  run<T>(keys: readonly string[], work: () => Promise<T>): Promise<T> {
    return this.local.run(keys, async () => {
      const held = [...new Set(keys)].sort().map((key) => `${this.prefix}:lock:${key}`);
      const token = randomBytes(9).toString("base64url");
      await this.acquire(held, token);
      try {
        return await work();
      } finally {
        // Not let go (Redis away): the keys expire by themselves.
        await this.redis.eval(RELEASE_LUA, held.length, ...held, token).catch(() => {});
      }
    });
  }

  private async acquire(keys: string[], token: string): Promise<void> {
    const deadline = Date.now() + this.waitMs;
    for (let pause = 2; ; pause = Math.min(pause * 2, 50)) {
      if ((await this.redis.eval(ACQUIRE_LUA, keys.length, ...keys, token, String(this.ttlMs))) === 1) return;
      if (Date.now() > deadline) {
        throw new Error(`another worker has held ${keys.map((k) => k.slice(this.prefix.length + 6)).join(", ")} for over ${this.waitMs} ms; the job is retried`);
      }
      await sleep(pause);
    }
  }
}
