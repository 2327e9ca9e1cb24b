import type { Config, ConfigWatcher } from "../config/index.ts";
import { ConfigError, type Logger, type RedisTarget, type Stoppable } from "../core/index.ts";
import type { ProbeRegistry } from "../probe-runtime/index.ts";

/** What `main.ts` hands every role. */
export interface RoleContext {
  config: Config;
  registry: ProbeRegistry;
  log: Logger;
  /** The process environment, read once by main. */
  env: NodeJS.ProcessEnv;
  /** Hands out reloaded configs when pulseboard.yaml changes on disk. */
  watcher: ConfigWatcher;
}

export type Role = Stoppable;

/** Where the control-plane Redis is (a URL or a Sentinel group); only `start` may run without one (it embeds Redis). */
export function controlPlaneRedis(config: Config, role: string): RedisTarget {
  if (!config.redis.target) {
    throw new ConfigError([`REDIS_URL: the ${role} role needs the control-plane Redis; set REDIS_URL, REDIS_SENTINELS and REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES (only \`pulseboard start\` embeds one)`]);
  }
  return config.redis.target;
}

/** Tells `pulseboard start` (when it is the parent) that this role serves. */
export function announceReady(role: string, detail?: Record<string, unknown>): void {
  process.send?.({ type: "ready", role, detail });
}
