import type { RedisTarget } from "../core/index.ts";
import type { EnvOverrides } from "./env.ts";

/** The variables of one Redis: the control plane's (`REDIS`) or the gateway's cache (`CACHE_REDIS`). */
type Which = "REDIS" | "CACHE_REDIS";

/**
 * Where the control-plane Redis and the gateway's cache Redis are: the URL
 * (`REDIS_URL`, else the file's `redis.url`), or a Sentinel group
 * (`REDIS_SENTINELS` and `REDIS_SENTINEL_NAME`, with `REDIS_PASSWORD` and
 * `REDIS_SENTINEL_PASSWORD` when they have passwords), or a Redis Cluster
 * (`REDIS_CLUSTER_NODES`, with `REDIS_PASSWORD`); the same with `CACHE_`
 * for the cache. Sentinels or cluster nodes set in the environment replace
 * the file's URL (the environment beats the file). Each variable that
 * contradicts another, or that is missing its pair, is a problem naming
 * both. Undefined means `pulseboard start` embeds that Redis.
 */
export function redisTargets(
  fileUrls: { redis?: string; cache?: string },
  env: EnvOverrides,
  problems: string[],
): { redis?: RedisTarget; cache?: RedisTarget } {
  return { redis: targetOf("REDIS", fileUrls.redis, env, problems), cache: targetOf("CACHE_REDIS", fileUrls.cache, env, problems) };
}

function targetOf(which: Which, fileUrl: string | undefined, env: EnvOverrides, problems: string[]): RedisTarget | undefined {
  const url = env[`${which}_URL` as const];
  const sentinels = env[`${which}_SENTINELS` as const];
  const name = env[`${which}_SENTINEL_NAME` as const];
  const password = env[`${which}_PASSWORD` as const];
  const sentinelPassword = env[`${which}_SENTINEL_PASSWORD` as const];
  const clusterNodes = env[`${which}_CLUSTER_NODES` as const];
  const before = problems.length;
  if (clusterNodes || problems.some((p) => p.startsWith(`${which}_CLUSTER_NODES:`))) return clusterTargetOf(which, { url, sentinels, name, password, sentinelPassword, clusterNodes }, problems);
  if (sentinels && url) {
    problems.push(`${which}_URL and ${which}_SENTINELS are both set: set one (${which}_URL for one server, or ${which}_SENTINELS with ${which}_SENTINEL_NAME for a Sentinel group)`);
  }
  if (sentinels && !name) problems.push(`${which}_SENTINEL_NAME: ${which}_SENTINELS is set, so name the master the Sentinels watch (the <name> of \`sentinel monitor <name> …\`)`);
  // A list that could not be read is named already; its name is no second problem.
  const listNamed = problems.some((p) => p.startsWith(`${which}_SENTINELS:`));
  if (name && !sentinels && !listNamed) problems.push(`${which}_SENTINELS: ${which}_SENTINEL_NAME is set, so list the Sentinels as host:port,host:port`);
  if (!sentinels) {
    for (const [variable, value] of [[`${which}_PASSWORD`, password], [`${which}_SENTINEL_PASSWORD`, sentinelPassword]] as const) {
      if (value !== undefined) problems.push(`${variable}: applies to ${which}_SENTINELS${variable.endsWith("_SENTINEL_PASSWORD") ? "" : ` or ${which}_CLUSTER_NODES`} only; with ${which}_URL the password goes in the URL (redis://:password@host:6379)`);
    }
  }
  if (problems.length > before) return undefined;
  if (!sentinels || !name) return url ?? fileUrl;
  return { sentinels, name, ...(password ? { password } : {}), ...(sentinelPassword ? { sentinelPassword } : {}) };
}

/**
 * A Redis Cluster from `<which>_CLUSTER_NODES`: every other way of saying
 * where the Redis is contradicts it (a problem naming both), and so does a
 * Sentinel password. `clusterNodes` is undefined when the list could not be
 * read (that problem is named already).
 */
function clusterTargetOf(
  which: Which,
  vars: { url?: string; sentinels?: unknown; name?: string; password?: string; sentinelPassword?: string; clusterNodes?: { host: string; port: number }[] },
  problems: string[],
): RedisTarget | undefined {
  const before = problems.length;
  const nodes = `${which}_CLUSTER_NODES`;
  for (const [variable, value] of [[`${which}_URL`, vars.url], [`${which}_SENTINELS`, vars.sentinels], [`${which}_SENTINEL_NAME`, vars.name]] as const) {
    if (value !== undefined) problems.push(`${variable} and ${nodes} are both set: set one (${which}_URL for one server, ${which}_SENTINELS with ${which}_SENTINEL_NAME for a Sentinel group, or ${nodes} for a Redis Cluster)`);
  }
  if (vars.sentinelPassword !== undefined) problems.push(`${which}_SENTINEL_PASSWORD: applies to ${which}_SENTINELS only; a Redis Cluster's password is ${which}_PASSWORD`);
  if (problems.length > before || !vars.clusterNodes) return undefined;
  return { clusterNodes: vars.clusterNodes, ...(vars.password ? { password: vars.password } : {}) };
}
