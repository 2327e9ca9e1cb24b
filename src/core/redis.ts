import { UpstreamError } from "./errors.ts";
import type { Redis, RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { describeError } from "./errors.ts";
import { lazyPackage } from "./lazy.ts";
import { redactUrl } from "./logger.ts";

const ioredis = lazyPackage<typeof import("ioredis")>("ioredis");

/**
 * How a connection behaves when Redis is slow or gone.
 * - `blocking`: BullMQ workers; commands wait for the reconnect (BullMQ needs
 *   `maxRetriesPerRequest: null`).
 * - `command`: everything else; a command fails within a couple of seconds so
 *   a caller (the status page, a probe) can fall back instead of hanging.
 */
export type RedisProfile = "blocking" | "command";

export interface RedisConnectionOptions {
  profile: RedisProfile;
  /** Shown in logs and in `CLIENT LIST` as the connection name. */
  name: string;
  log?: Logger;
}

/**
 * Opens an ioredis connection. The URL's password never reaches a log line;
 * connection errors are logged once per outage, not once per retry.
 */
export function connectRedis(url: string, options: RedisConnectionOptions): Redis {
  const base: RedisOptions = {
    connectionName: `pulseboard:${options.name}`,
    connectTimeout: 3_000,
    retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2_000),
  };
  const profile: RedisOptions =
    options.profile === "blocking"
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 1, commandTimeout: 3_000 };
  const redis = new (ioredis().Redis)(url, { ...base, ...profile });
  watchConnection(redis, url, options);
  return redis;
}

function watchConnection(redis: Redis, url: string, options: RedisConnectionOptions): void {
  const log = options.log?.child({ redis: options.name, url: redactUrl(url) });
  let down = false;
  redis.on("error", (err) => {
    if (down) return;
    down = true;
    log?.warn({ err: describeError(err) }, "redis connection failed; retrying");
  });
  redis.on("ready", () => {
    if (down) log?.info("redis connection restored");
    down = false;
  });
}

/** Closes a connection without throwing when it is already gone. */
export async function closeRedis(redis: Redis): Promise<void> {
  if (redis.status === "end") return;
  try {
    await Promise.race([redis.quit(), new Promise((resolve) => setTimeout(resolve, 1_000))]);
  } catch {
    // quit fails when the server is unreachable; disconnect below ends it anyway
  }
  redis.disconnect();
}

/** The answers of a MULTI/EXEC or pipeline, or an UpstreamError naming the first command that failed. */
export function checkExec(result: [Error | null, unknown][] | null): [Error | null, unknown][] {
  if (!result) throw new UpstreamError("redis transaction was aborted");
  const failed = result.find(([err]) => err);
  if (failed?.[0]) throw new UpstreamError(`redis transaction failed: ${failed[0].message}`, { cause: failed[0] });
  return result;
}
