import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config, ResolvedProbe } from "../config/index.ts";
import { describeError, type Logger } from "../core/index.ts";
import { heartbeatContext } from "./context.ts";
import { missedResult, queueResult } from "./results.ts";
import { heartbeatTiming, isHeartbeat } from "./timing.ts";

export interface HeartbeatCheckerOptions {
  /** The running config (heartbeat checks come and go on reload). */
  config: () => Config;
  /** A control-plane connection (the `command` profile); not closed by close(). */
  redis: Redis;
  log: Logger;
  /** Probes a person paused (the admin API): their deadlines are not watched. @defaultValue none */
  paused?: () => Promise<Set<string>>;
  /** How often the deadlines are looked at. @defaultValue 1000 */
  everyMs?: number;
}

/**
 * Watches the deadlines of every enabled heartbeat check: when nothing came
 * for `every + grace` since the last ping (or since a worker first watched a
 * check that never got one), a failed result goes to the evaluator, and
 * again each `every` while nothing comes, so the history shows the gap.
 *
 * Any number of workers may run it: each missed deadline has a key that the
 * worker reporting it sets with NX, so it is reported once. A worker that was
 * down reports the latest missed deadline, not every one it slept through.
 */
export function startHeartbeatChecker(options: HeartbeatCheckerOptions): { close(): Promise<void> } {
  const log = options.log.child({ module: "heartbeat.checker" });
  const ctx = heartbeatContext({ config: options.config, redis: options.redis, log });
  const everyMs = options.everyMs ?? 1_000;
  let running: Promise<void> | undefined;

  async function check(): Promise<void> {
    const watched = ctx.config().probes.filter((p) => p.enabled && isHeartbeat(p));
    if (watched.length === 0) return;
    const paused = (await options.paused?.()) ?? new Set<string>();
    await Promise.all(
      watched
        .filter((p) => !paused.has(p.id))
        .map((probe) => checkOne(probe).catch((err: unknown) => log.warn({ probe: probe.id, err: describeError(err) }, "checking a heartbeat deadline failed; trying again"))),
    );
  }

  async function checkOne(probe: ResolvedProbe): Promise<void> {
    const timing = heartbeatTiming(probe);
    const last = await ctx.redis.get(ctx.keys.lastPing(probe.id));
    const since = last !== null ? Number(last) : await firstSeen(probe.id);
    const now = Date.now();
    const first = since + timing.everyMs + timing.graceMs;
    if (now < first) return;
    const n = Math.floor((now - first) / timing.everyMs);
    const deadline = first + n * timing.everyMs;
    const key = ctx.keys.missed(probe.id, since, n);
    // Kept past the time this deadline is the latest one (`every`), with room for clocks that differ between workers.
    const claimed = await ctx.redis.set(key, String(now), "PX", timing.everyMs + 60_000, "NX");
    if (claimed !== "OK") return;
    // A ping that came while this worker looked makes the miss moot: the job is alive.
    if ((await ctx.redis.get(ctx.keys.lastPing(probe.id))) !== last) return;
    const result = missedResult(probe, { since, pinged: last !== null, deadline, n, at: now }, timing);
    try {
      await queueResult(ctx.evaluate, result);
    } catch (err) {
      // Unclaimed again, so the next look reports it.
      await ctx.redis.del(key).catch(() => {});
      throw err;
    }
    log.info({ probe: probe.id, since: new Date(since).toISOString(), missed: n + 1, result: result.id }, "heartbeat check missed its deadline");
  }

  /** When the check was first watched, the same for every worker (the first to look sets it). */
  async function firstSeen(probe: string): Promise<number> {
    const key = ctx.keys.firstSeen(probe);
    await ctx.redis.set(key, String(Date.now()), "NX");
    const value = await ctx.redis.get(key);
    return value !== null ? Number(value) : Date.now();
  }

  const timer = setInterval(() => {
    if (running) return;
    running = check()
      .catch((err: unknown) => log.warn({ err: describeError(err) }, "checking the heartbeat deadlines failed; trying again"))
      .finally(() => (running = undefined));
  }, everyMs);
  log.info({ every_ms: everyMs }, "watching heartbeat deadlines");
  return {
    async close() {
      clearInterval(timer);
      await running;
      await ctx.close();
    },
  };
}
