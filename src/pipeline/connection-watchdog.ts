import type { RedisConnection as Redis } from "../core/index.ts";
import { describeError, type Logger } from "../core/index.ts";
import { RoleMetrics } from "./role-metrics.ts";

/** How long a PING may take before the connection counts as silent. */
export const ANSWER_TIMEOUT_MS = 3_000;

/**
 * Whether `redis` answers a PING within `timeoutMs`. Any reply counts, an
 * error reply too (a busy server still answers); only silence does not. The
 * PING of a silent connection is left pending: ioredis sends it again after
 * a reconnect, and its late answer is ignored.
 */
export async function answers(redis: Redis, timeoutMs = ANSWER_TIMEOUT_MS): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const ping = redis.ping().then(
    () => true,
    (err: unknown) => !/command timed out/i.test(describeError(err)),
  );
  const silence = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([ping, silence]);
  } finally {
    clearTimeout(timer);
  }
}

/** Whether the connection has a socket ioredis trusts: only a dead one makes it reconnect by itself. */
function connected(redis: Redis): boolean {
  return redis.status === "ready" || redis.status === "connect";
}

export interface ConnectionWatchdogOptions {
  /** Names the connection in logs and in the metric's `connection` label. */
  name: string;
  log: Logger;
  /** Where reconnects are counted. @defaultValue counted, not published */
  metrics?: RoleMetrics;
  /** How long the connection may stay silent while it says it is ready. @defaultValue 15 s */
  silentForMs?: number;
  /** How often it is asked. @defaultValue 5 s */
  intervalMs?: number;
}

/**
 * Watches a `command` connection that ioredis calls ready but that may have
 * gone silent: the server behind it vanished without a reset (a failover, a
 * dropped NAT or proxy entry). ioredis notices only when TCP gives up, many
 * minutes later; a command timeout fails the command but keeps the socket.
 * Everything on the connection then fails with "Command timed out" and keeps
 * retrying against nothing. When PINGs have found it silent for `silentForMs`
 * while it says ready, it is reconnected (a fresh socket reaches the server
 * the address names now), logged, and counted in
 * `pulseboard_connection_watchdog_reconnects_total{connection}`. A
 * connection that is already reconnecting is left to ioredis.
 */
export function watchConnection(redis: Redis, options: ConnectionWatchdogOptions): { stop(): void } {
  const log = options.log.child({ watchdog: "connection", connection: options.name });
  const silentForMs = options.silentForMs ?? 15_000;
  const intervalMs = options.intervalMs ?? 5_000;
  const metrics = options.metrics ?? new RoleMetrics("test", { runtime: false });
  const reconnects = metrics.counter("pulseboard_connection_watchdog_reconnects_total", "Connections the watchdog found silent while ready, and reconnected", ["connection"]);
  reconnects.inc({ connection: options.name }, 0);
  let silentSince: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  const tick = async (): Promise<void> => {
    // Connected (ready, or mid-handshake): ioredis will not look again by itself. Otherwise it is reconnecting already.
    if (!connected(redis)) {
      silentSince = undefined;
    } else if (await answers(redis, Math.min(ANSWER_TIMEOUT_MS, intervalMs))) {
      silentSince = undefined;
    } else {
      silentSince ??= Date.now();
      const silentMs = Date.now() - silentSince;
      if (silentMs >= silentForMs && !stopped && connected(redis)) {
        log.warn({ silentMs }, "redis connection says it is ready but has answered nothing; reconnecting it");
        reconnects.inc({ connection: options.name });
        silentSince = undefined;
        redis.disconnect(true);
      }
    }
    if (!stopped) timer = setTimeout(() => void tick(), intervalMs).unref();
  };
  timer = setTimeout(() => void tick(), intervalMs).unref();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
