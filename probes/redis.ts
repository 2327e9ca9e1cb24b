import { Redis } from "ioredis";
import { z } from "zod";
import { defineProbe, ProbeFailure } from "../src/probe-runtime/index.ts";

const settingsSchema = z.strictObject({
  /** @defaultValue the gateway's cache Redis */
  url: z.string().regex(/^rediss?:\/\//, { error: "expected a Redis URL like redis://host:6379" }).optional(),
});

/**
 * Connects to a Redis and sends PING. Phases: connect, ping. A clogged Redis
 * answers slowly before it stops answering; the probe's `degraded_over`
 * threshold turns slowness into `degraded`.
 */
export default defineProbe({
  kind: "redis",
  description: "Redis connect and PING round trip",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const url = settings.url ?? ctx.targets.cacheRedisUrl;
    if (!url) throw new ProbeFailure("no Redis URL: set `with.url` on the probe, or CACHE_REDIS_URL for the gateway's cache");
    const redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: ctx.timeoutMs,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      // The connect phase is the TCP connection alone; a paused or clogged server shows in ping.
      enableReadyCheck: false,
    });
    let socketError: Error | undefined;
    redis.on("error", (err: Error) => (socketError = err));
    const abort = (): void => redis.disconnect();
    ctx.signal.addEventListener("abort", abort, { once: true });
    try {
      await ctx.phase("connect", () => redis.connect().catch((err: Error) => Promise.reject(explain(socketError ?? err, url))));
      const answer = await ctx.phase("ping", () => redis.ping());
      if (answer !== "PONG") throw new ProbeFailure(`PING answered ${JSON.stringify(answer)} instead of PONG`);
      return { status: "ok", details: { host: new URL(url).host } };
    } finally {
      ctx.signal.removeEventListener("abort", abort);
      redis.disconnect();
    }
  },
});

function explain(err: Error, url: string): Error {
  const host = new URL(url).host;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ECONNREFUSED") return new ProbeFailure(`connection refused by ${host}: is Redis running?`);
  if (/NOAUTH|WRONGPASS/.test(err.message)) return new ProbeFailure(`Redis at ${host} refused the credentials`);
  if (/max number of clients/i.test(err.message)) return new ProbeFailure(`Redis at ${host} is at maxclients and refuses connections`);
  return new ProbeFailure(`${host}: ${err.message}`);
}
