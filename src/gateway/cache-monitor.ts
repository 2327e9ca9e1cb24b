import { Redis } from "ioredis";

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

  constructor(url: string, private readonly timeoutMs: number, everyMs = 2_000) {
    this.redis = new Redis(url, {
      connectTimeout: timeoutMs,
      commandTimeout: timeoutMs,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectionName: "pulseboard:gateway-monitor",
      retryStrategy: () => 1_000,
    });
    this.redis.on("error", () => {});
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
