import type { RedisConnection as Redis } from "../core/index.ts";
import { connectRedis, type RedisTarget } from "../core/index.ts";

export interface CacheHealth {
  ok: boolean;
  /** Round trip of the last PING, in ms; null when it failed. */
  latency_ms: number | null;
  checked_at: string | null;
  error?: string;
}

/**
 * Pings the cache Redis every few seconds on a connection of its own, in
 * either cache mode, so the fleet knows when a cache that was bypassed is
 * healthy again.
 */
export class CacheMonitor {
  private readonly redis: Redis;
  private readonly timer: NodeJS.Timeout;
  private last: CacheHealth = { ok: false, latency_ms: null, checked_at: null };

  constructor(target: RedisTarget, private readonly timeoutMs: number, everyMs = 2_000) {
    this.redis = connectRedis(target, {
      profile: "command",
      name: "gateway-monitor",
      tuning: { connectTimeout: timeoutMs, commandTimeout: timeoutMs, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => 1_000 },
    });
    this.redis.on("ready", () => void this.check());
    this.timer = setInterval(() => void this.check(), everyMs);
    this.timer.unref();
  }

  health(): CacheHealth {
    return this.last;
  }

  async check(): Promise<CacheHealth> {
    const started = performance.now();
    try {
      await this.redis.ping();
      this.last = { ok: true, latency_ms: Math.round((performance.now() - started) * 100) / 100, checked_at: new Date().toISOString() };
    } catch (err) {
      this.last = { ok: false, latency_ms: null, checked_at: new Date().toISOString(), error: (err as Error).message };
    }
    return this.last;
  }

  close(): void {
    clearInterval(this.timer);
    this.redis.disconnect();
  }
}
