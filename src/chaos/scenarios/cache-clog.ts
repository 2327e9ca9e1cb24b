import { connectRedis, describeError, describeRedisTarget, sleep } from "../../core/index.ts";
import { ChaosUsageError, type ChaosContext, type ChaosScenario } from "../types.ts";

/** In the slow half, each period pauses the cache this long… */
const SLOW_PAUSE_MS = 300;
/** …out of this long: every command waits up to 300 ms, like a cache under a blocking workload. */
const SLOW_PERIOD_MS = 400;

/**
 * The cache Redis stalls, then crawls: for the first half of the duration
 * one CLIENT PAUSE holds every command, for the second half short pauses
 * keep every command waiting. Every pause ends by itself (Redis times it),
 * so nothing stays broken past the scenario's bound, even if chaos is
 * killed; Ctrl-C stops issuing new pauses (Redis will not unpause early).
 */
export const cacheClog: ChaosScenario = {
  name: "cache-clog",
  description: "the cache Redis stalls (paused, then slow) and everything that depends on it slows (the Redis clog that took a platform down)",
  defaultDurationMs: 30_000,
  async run(ctx: ChaosContext): Promise<string> {
    const target = ctx.target.cache.redis;
    if (!target) throw new ChaosUsageError("cache-clog needs the gateway's cache Redis: set CACHE_REDIS_URL (or CACHE_REDIS_SENTINELS), or run it against `pulseboard start`'s embedded one");
    // A Sentinel group's master is the one paused: it is what the gateway talks to.
    const redis = connectRedis(target, { profile: "command", name: "chaos-cache-clog", tuning: { lazyConnect: true, enableOfflineQueue: false, commandTimeout: undefined } });
    const where = describeRedisTarget(target);
    try {
      await redis.connect().catch((err: unknown) => {
        throw new ChaosUsageError(`cannot reach the cache Redis at ${where}: ${describeError(err)}`);
      });
      const stallMs = Math.round(ctx.options.durationMs / 2);
      const slowUntil = Date.now() + ctx.options.durationMs;
      await redis.call("CLIENT", "PAUSE", String(stallMs), "ALL");
      const stallEnds = new Date(Date.now() + stallMs).toISOString().slice(11, 19);
      ctx.note(`paused every command of the cache Redis (${where}) for ${(stallMs / 1000).toFixed(0)} s; it ends by itself`);
      await ctx.hold(stallMs);
      if (ctx.signal.aborted) return `paused the cache Redis; interrupted (Redis ends the pause by itself at ${stallEnds} UTC)`;
      ctx.note(`the cache Redis crawls: paused ${SLOW_PAUSE_MS} ms of every ${SLOW_PERIOD_MS} ms until the end`);
      let pauses = 0;
      while (!ctx.signal.aborted && Date.now() + SLOW_PERIOD_MS <= slowUntil) {
        await redis.call("CLIENT", "PAUSE", String(SLOW_PAUSE_MS), "ALL");
        pauses++;
        await sleep(SLOW_PERIOD_MS);
      }
      return `paused the cache Redis for ${(stallMs / 1000).toFixed(0)} s, then slowed it with ${pauses} short pauses`;
    } finally {
      redis.disconnect();
    }
  },
};
