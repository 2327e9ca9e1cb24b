import { UpstreamError } from "./errors.ts";
import type { Cluster, ClusterOptions, Redis, RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { describeError } from "./errors.ts";
import { lazyPackage } from "./lazy.ts";
import { redactUrl } from "./logger.ts";

const ioredis = lazyPackage<typeof import("ioredis")>("ioredis");

/**
 * Where a Redis is: a `redis://` or `rediss://` URL for one server, the
 * master a group of Sentinels watches (connections then follow a failover
 * to whichever replica the Sentinels promote), or a Redis Cluster.
 */
export type RedisTarget = string | RedisSentinelTarget | RedisClusterTarget;

/**
 * A connection made by `connectRedis`: one server's (a URL or a Sentinel
 * master) or a Redis Cluster's. Both take every command; what only one of
 * them has (`options`, `duplicate`) is reached through `connectRedisLike`
 * and `isCluster` here.
 */
export type RedisConnection = Redis | Cluster;

/** The master of a Sentinel group. */
export interface RedisSentinelTarget {
  /** The Sentinels to ask where the master is; any one that answers will do. */
  sentinels: { host: string; port: number }[];
  /** The master's name, as the Sentinels know it (`sentinel monitor <name> …`). */
  name: string;
  /** The password of the master and its replicas (`requirepass`). @defaultValue none */
  password?: string;
  /** The Sentinels' own password (`requirepass` in sentinel.conf). @defaultValue none */
  sentinelPassword?: string;
}

/** A Redis Cluster: commands go to the primary of each key's slot, and follow a failover to the replica the cluster promotes. */
export interface RedisClusterTarget {
  /** Some of the cluster's nodes to learn the rest from; any one that answers will do. */
  clusterNodes: { host: string; port: number }[];
  /** The password of every node (`requirepass`, `masterauth`). @defaultValue none */
  password?: string;
}

/** True when the target is a Redis Cluster. */
export function isClusterTarget(target: RedisTarget): target is RedisClusterTarget {
  return typeof target !== "string" && "clusterNodes" in target;
}

/** True when the connection is a Redis Cluster's. */
export function isCluster(connection: RedisConnection): connection is Cluster {
  return (connection as Cluster).isCluster === true;
}

/**
 * How a connection behaves when Redis is slow or gone.
 * - `blocking`: BullMQ workers; commands wait for the reconnect (BullMQ needs
 *   `maxRetriesPerRequest: null`).
 * - `command`: everything else; a command fails within a couple of seconds so
 *   a caller (the status page, a probe) can fall back instead of hanging.
 */
export type RedisProfile = "blocking" | "command";

/**
 * Timeouts and queueing a caller may choose for itself (the gateway's cache
 * connections fail faster than any role's). Where the server is and how to
 * reach it stay the factory's.
 */
export type RedisTuning = Pick<RedisOptions, "connectTimeout" | "commandTimeout" | "enableOfflineQueue" | "maxRetriesPerRequest" | "retryStrategy" | "lazyConnect">;

export interface RedisConnectionOptions {
  profile: RedisProfile;
  /** Shown in logs and in `CLIENT LIST` as the connection name. */
  name: string;
  log?: Logger;
  /** Overrides the profile's timeouts and queueing. @defaultValue the profile's */
  tuning?: RedisTuning;
  /**
   * On a cluster target, one subscriber connection per primary for sharded
   * pub/sub (SSUBSCRIBE); ignored otherwise. @defaultValue false
   */
  shardedSubscribers?: boolean;
}

const BASE: RedisOptions = {
  connectTimeout: 3_000,
  retryStrategy: (attempt) => Math.min(100 * 2 ** Math.min(attempt, 5), 2_000),
};

const PROFILES: Record<RedisProfile, RedisOptions> = {
  // commandTimeout is named so that a connection made like a `command` one does not keep its timeout.
  blocking: { maxRetriesPerRequest: null, commandTimeout: undefined, enableReadyCheck: true },
  command: { maxRetriesPerRequest: 1, commandTimeout: 3_000 },
};

/** What each connection was opened to, for the log lines of the connections made like it. */
const targets = new WeakMap<RedisConnection, RedisTarget>();

/**
 * Opens an ioredis connection: the one place that knows how to reach a
 * Redis. The password never reaches a log line; connection errors are
 * logged once per outage, not once per retry, and name their cause.
 * A cluster target gives an ioredis `Cluster`; anything else a `Redis`.
 */
export function connectRedis(target: string | RedisSentinelTarget, options: RedisConnectionOptions): Redis;
export function connectRedis(target: RedisTarget, options: RedisConnectionOptions): RedisConnection;
export function connectRedis(target: RedisTarget, options: RedisConnectionOptions): RedisConnection {
  const settings: RedisOptions = { ...BASE, ...PROFILES[options.profile], ...options.tuning, connectionName: `pulseboard:${options.name}` };
  const { Redis, Cluster } = ioredis();
  let redis: RedisConnection;
  if (isClusterTarget(target)) redis = new Cluster(target.clusterNodes, clusterOptions(settings, target, options.shardedSubscribers === true));
  else redis = typeof target === "string" ? new Redis(target, settings) : new Redis({ ...settings, ...reach(target) });
  targets.set(redis, target);
  watchConnection(redis, target, options);
  return redis;
}

/**
 * Another connection to where `connection` goes (the same server, the same
 * Sentinel master, or the same cluster), with a profile of its own: a
 * blocking reader beside a role's command connection. BullMQ makes its
 * blocking connections the same way.
 */
export function connectRedisLike<C extends RedisConnection>(connection: C, options: RedisConnectionOptions): C;
export function connectRedisLike(connection: RedisConnection, options: RedisConnectionOptions): RedisConnection {
  const own: RedisOptions = { ...PROFILES[options.profile], ...options.tuning, connectionName: `pulseboard:${options.name}` };
  let redis: RedisConnection;
  let target: RedisTarget;
  if (isCluster(connection)) {
    target = targets.get(connection) ?? { clusterNodes: [] };
    const { retryStrategy, enableOfflineQueue, lazyConnect, ...perNode } = own;
    redis = connection.duplicate([], {
      redisOptions: { ...connection.options.redisOptions, ...perNode },
      ...(retryStrategy ? { clusterRetryStrategy: retryStrategy } : {}),
      ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
      ...(lazyConnect !== undefined ? { lazyConnect } : {}),
      ...(options.shardedSubscribers !== undefined ? { shardedSubscribers: options.shardedSubscribers } : {}),
    });
  } else {
    target = targets.get(connection) ?? `redis://${connection.options.host ?? "127.0.0.1"}:${connection.options.port ?? 6379}`;
    redis = connection.duplicate(own);
  }
  targets.set(redis, target);
  watchConnection(redis, target, options);
  return redis;
}

/** The target in words fit for a log line or an error: the URL without its password, the Sentinels and the master's name, or the cluster's nodes. */
export function describeRedisTarget(target: RedisTarget): string {
  if (typeof target === "string") return redactUrl(target);
  if (isClusterTarget(target)) return `the Redis Cluster at ${addressList(target.clusterNodes)}`;
  return `the master "${target.name}" of the Sentinels at ${sentinelList(target)}`;
}

/**
 * A cluster connection: the per-node settings (timeouts, retries per
 * command, the password) go to every node's connection; reconnecting and
 * queueing are the cluster's.
 */
function clusterOptions(settings: RedisOptions, target: RedisClusterTarget, shardedSubscribers: boolean): ClusterOptions {
  const { retryStrategy, enableOfflineQueue, lazyConnect, enableReadyCheck: _readyCheck, ...perNode } = settings;
  return {
    redisOptions: { ...perNode, ...(target.password ? { password: target.password } : {}) },
    clusterRetryStrategy: retryStrategy,
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(lazyConnect !== undefined ? { lazyConnect } : {}),
    // No cluster-wide ready check (CLUSTER INFO after each connect). When it fails, as it does during a
    // failover (cluster_state:fail, or the dead node asked), ioredis reconnects without ever settling the
    // promise of the connect() that ran it (redis/ioredis#741). BullMQ awaits exactly that promise when it
    // resets a worker's blocking connection, so the worker's fetch loop waited forever while the cluster
    // was fine again. Without it a command sent while the slot has no primary gets CLUSTERDOWN and is
    // retried (retryDelayOnClusterDown, retryDelayOnFailover below); each node's own ready check stays.
    enableReadyCheck: false,
    // Writes and blocking reads go to primaries only; a replica's copy may lag.
    scaleReads: "master",
    // While the cluster elects a new primary, its slots answer CLUSTERDOWN or the old node is gone:
    // retry after a short pause (each command still has its profile's retries and timeout).
    retryDelayOnClusterDown: 300,
    retryDelayOnFailover: 300,
    shardedSubscribers,
  };
}

/** The options that say where a Sentinel target's master is and how to follow it. */
function reach(target: RedisSentinelTarget): RedisOptions {
  return {
    sentinels: target.sentinels,
    name: target.name,
    role: "master",
    password: target.password,
    sentinelPassword: target.sentinelPassword,
    // A master that stops answering without closing its sockets (a partition, a frozen host) is left
    // when the Sentinels announce its successor, instead of when TCP finally gives up.
    failoverDetector: true,
    // A master demoted under a live connection answers writes with READONLY and unblocks blocked
    // reads with UNBLOCKED: reconnect, which asks the Sentinels again (and resends the write).
    reconnectOnError: (err) => (/^READONLY/.test(err.message) ? 2 : /^UNBLOCKED/.test(err.message)),
  };
}

function sentinelList(target: RedisSentinelTarget): string {
  return addressList(target.sentinels);
}

function addressList(addresses: { host: string; port: number }[]): string {
  return addresses.map((s) => (s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`)).join(",");
}

function logFields(target: RedisTarget): Record<string, string> {
  if (typeof target === "string") return { url: redactUrl(target) };
  if (isClusterTarget(target)) return { cluster: addressList(target.clusterNodes) };
  return { sentinels: sentinelList(target), master: target.name };
}

/**
 * ioredis' words for a failed Sentinel lookup ("All sentinels are
 * unreachable") also cover Sentinels that answered but know no such master;
 * this says which it was.
 */
function explain(err: Error, target: RedisTarget, masterUnknown: boolean): string {
  if (isClusterTarget(target) && /Failed to refresh slots cache/.test(err.message)) return `no node of the Redis Cluster at ${addressList(target.clusterNodes)} answered`;
  if (typeof target === "string" || isClusterTarget(target) || !/All sentinels are unreachable/.test(err.message)) return describeError(err);
  const last = /Last error: (.*)$/.exec(err.message)?.[1];
  if (masterUnknown || /No such master/i.test(last ?? "")) {
    return `the Sentinels at ${sentinelList(target)} know no master named "${target.name}" (the <name> of \`sentinel monitor <name> …\`)`;
  }
  // "Connection is closed." is all ioredis keeps of a refused or timed-out Sentinel connection.
  const detail = last && !/^Connection is closed\.?$/.test(last) ? ` (last error: ${last})` : "";
  return `no Sentinel of ${sentinelList(target)} answered${detail}`;
}

function watchConnection(redis: RedisConnection, target: RedisTarget, options: RedisConnectionOptions): void {
  const log = options.log?.child({ redis: options.name, ...logFields(target) });
  let down = false;
  // A sweep of the Sentinels in which one answered "no such master"; ioredis reports the sweep as unreachable.
  let masterUnknown = false;
  redis.on("sentinelError", (err: Error) => {
    if (/invalid reply/.test(err.message)) masterUnknown = true;
  });
  redis.on("error", (err) => {
    const cause = explain(err, target, masterUnknown);
    masterUnknown = false;
    if (down) return;
    down = true;
    log?.warn({ err: cause }, "redis connection failed; retrying");
  });
  redis.on("ready", () => {
    if (down) log?.info("redis connection restored");
    down = false;
  });
}

/** Closes a connection without throwing when it is already gone. */
export async function closeRedis(redis: RedisConnection): Promise<void> {
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
