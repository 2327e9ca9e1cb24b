import type { Redis } from "ioredis";
import { z } from "zod";
import { lazyPackage } from "../src/core/lazy.ts";
import { defineProbe, durationSetting, ProbeFailure } from "../src/probe-runtime/index.ts";

const ioredis = lazyPackage<typeof import("ioredis")>("ioredis");

const share = z.number().gt(0).max(1);

const settingsSchema = z.strictObject({
  /** @defaultValue the gateway's cache Redis */
  url: z.string().regex(/^rediss?:\/\//, { error: "expected a Redis URL like redis://host:6379" }).optional(),
  /**
   * Prefix of the key the probe writes and reads back (one key per probe and location).
   * @defaultValue "pulseboard:probe:"
   */
  key_prefix: z.string().min(1).max(200).default("pulseboard:probe:"),
  /**
   * How long the probe's key lives, so an interrupted run leaves nothing behind for long.
   * @defaultValue "30s"
   */
  key_ttl: durationSetting().default(30_000),
  /**
   * Degraded when connected clients exceed this share of maxclients.
   * @defaultValue 0.8
   */
  clients_over: share.default(0.8),
  /**
   * Degraded when used memory exceeds this share of maxmemory (when maxmemory is set).
   * @defaultValue 0.9
   */
  memory_over: share.default(0.9),
  /**
   * Degraded when more clients than this wait in blocking commands.
   * @defaultValue 50
   */
  blocked_clients_over: z.int().min(0).default(50),
});

/** Counters of INFO that only grow, as the previous run of each probe saw them. */
interface Counters {
  runId: string;
  rejected: number;
  evicted: number;
}

/** The previous run's counters per probe (and Redis), to tell new rejections and evictions from old ones. */
const lastCounters = new Map<string, Counters>();

/**
 * Connects to a Redis, sends PING, writes a key (with a short TTL) and reads
 * it back, then reads INFO. Phases: connect, ping, round trip, info. A
 * clogged Redis is slow or near a limit before it is down, so the probe is
 * `degraded`, saying why, when clients near maxclients, memory nears
 * maxmemory, many clients are blocked, or connections were rejected or keys
 * evicted since its previous run; the probe's `degraded_over` threshold
 * turns slowness into `degraded` too. A Redis at maxclients fails, saying so.
 */
export default defineProbe({
  kind: "redis",
  description: "Redis connect, PING, SET/GET round trip and INFO health (clients, memory, rejections, evictions)",
  configSchema: settingsSchema,
  async run(settings, ctx) {
    const url = settings.url ?? ctx.targets.cacheRedisUrl;
    if (!url) throw new ProbeFailure("no Redis URL: set `with.url` on the probe, or CACHE_REDIS_URL for the gateway's cache");
    const host = new URL(url).host;
    const redis: Redis = new (ioredis().Redis)(url, {
      lazyConnect: true,
      connectTimeout: ctx.timeoutMs,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
      // The connect phase is the TCP connection alone; a paused or clogged server shows in ping.
      enableReadyCheck: false,
      // Nothing may be sent before PING: a Redis at maxclients says so in answer to the first command.
      disableClientInfo: true,
    });
    let socketError: Error | undefined;
    redis.on("error", (err: Error) => (socketError ??= err));
    // ioredis reports a dropped connection as "Connection is closed."; the socket's own error says more.
    const fail = (err: Error): Promise<never> => Promise.reject(explain(/Connection is closed/.test(err.message) && socketError ? socketError : err, host));
    const abort = (): void => redis.disconnect();
    ctx.signal.addEventListener("abort", abort, { once: true });
    try {
      await ctx.phase("connect", () => redis.connect().catch(fail));
      const answer = await ctx.phase("ping", () => redis.ping().catch(fail));
      if (answer !== "PONG") throw new ProbeFailure(`PING answered ${JSON.stringify(answer)} instead of PONG`);
      await ctx.phase("round trip", () => roundTrip(redis, `${settings.key_prefix}${ctx.probe}:${ctx.location}`, settings.key_ttl).catch(fail));
      const info = await ctx.phase("info", () => readInfo(redis).catch(fail));
      const health = judge(info, settings, lastCounters.get(`${ctx.probe}|${host}`));
      lastCounters.set(`${ctx.probe}|${host}`, { runId: info.run_id ?? "", rejected: num(info.rejected_connections), evicted: num(info.evicted_keys) });
      const details = { host, ...health.figures };
      if (health.reasons.length > 0) return { status: "degraded", error: `Redis at ${host}: ${health.reasons.join("; ")}`, details };
      return { status: "ok", details };
    } finally {
      ctx.signal.removeEventListener("abort", abort);
      redis.disconnect();
    }
  },
});

/** SET a fresh value with a TTL and GET it back: the cache stores and answers, not just PONGs. */
async function roundTrip(redis: Redis, key: string, ttlMs: number): Promise<void> {
  const value = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
  await redis.set(key, value, "PX", ttlMs);
  const read = await redis.get(key);
  if (read !== value) throw new ProbeFailure(`GET ${key} returned ${JSON.stringify(read)} right after SET wrote ${JSON.stringify(value)}`);
}

/** INFO as fields; maxclients comes from CONFIG GET where INFO lacks it (before Redis 7). */
async function readInfo(redis: Redis): Promise<Record<string, string>> {
  const text = await redis.info();
  const info: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(":");
    if (colon > 0 && !line.startsWith("#")) info[line.slice(0, colon)] = line.slice(colon + 1);
  }
  if (info.maxclients === undefined) {
    // CONFIG is often disabled on managed Redis; then the clients check is skipped.
    const pair = (await redis.config("GET", "maxclients").catch(() => [])) as string[];
    if (pair[1] !== undefined) info.maxclients = pair[1];
  }
  return info;
}

type Settings = z.output<typeof settingsSchema>;

/** The reasons a healthy-answering Redis is still degraded, and the figures behind them. */
function judge(info: Record<string, string>, settings: Settings, previous: Counters | undefined): { reasons: string[]; figures: Record<string, number | null> } {
  const reasons: string[] = [];
  const clients = num(info.connected_clients);
  const maxClients = info.maxclients === undefined ? null : num(info.maxclients);
  const used = num(info.used_memory);
  const maxMemory = num(info.maxmemory);
  const blocked = num(info.blocked_clients);
  const rejected = num(info.rejected_connections);
  const evicted = num(info.evicted_keys);

  if (maxClients && clients > maxClients * settings.clients_over) {
    reasons.push(`${clients} of maxclients ${maxClients} connected (${percent(clients / maxClients)}, over ${percent(settings.clients_over)}): new connections are refused at ${maxClients}`);
  }
  if (maxMemory > 0 && used > maxMemory * settings.memory_over) {
    reasons.push(`used memory ${mib(used)} is ${percent(used / maxMemory)} of maxmemory ${mib(maxMemory)} (over ${percent(settings.memory_over)}): ${info.maxmemory_policy === "noeviction" ? "writes fail" : "keys are evicted"} at the limit`);
  }
  if (blocked > settings.blocked_clients_over) reasons.push(`${blocked} clients are blocked in blocking commands (over ${settings.blocked_clients_over})`);
  // Counters start again when Redis restarts (a new run_id): no comparison across a restart.
  const comparable = previous !== undefined && previous.runId === (info.run_id ?? "");
  const newRejected = comparable ? rejected - previous.rejected : 0;
  const newEvicted = comparable ? evicted - previous.evicted : 0;
  if (newRejected > 0) reasons.push(`${newRejected} connection${newRejected === 1 ? " was" : "s were"} rejected since the last run (maxclients reached)`);
  if (newEvicted > 0) reasons.push(`${newEvicted} key${newEvicted === 1 ? " was" : "s were"} evicted since the last run (maxmemory reached)`);

  return {
    reasons,
    figures: {
      connected_clients: clients,
      maxclients: maxClients,
      blocked_clients: blocked,
      used_memory: used,
      maxmemory: maxMemory,
      rejected_connections: rejected,
      evicted_keys: evicted,
      new_rejected_connections: comparable ? newRejected : null,
      new_evicted_keys: comparable ? newEvicted : null,
    },
  };
}

function explain(err: Error, host: string): Error {
  if (err instanceof ProbeFailure) return err;
  const code = (err as NodeJS.ErrnoException).code;
  if (code === "ECONNREFUSED") return new ProbeFailure(`connection refused by ${host}: is Redis running?`);
  if (/max number of clients/i.test(err.message)) return new ProbeFailure(`Redis at ${host} is at maxclients and refuses new connections ("${err.message}")`);
  if (/NOAUTH|WRONGPASS/.test(err.message)) return new ProbeFailure(`Redis at ${host} refused the credentials: ${err.message}`);
  if (/^OOM/.test(err.message)) return new ProbeFailure(`Redis at ${host} is out of memory and refuses writes ("${err.message}"): raise maxmemory or set an eviction policy`);
  if (/^READONLY/.test(err.message)) return new ProbeFailure(`Redis at ${host} is a read-only replica: point the probe at the primary`);
  if (/^LOADING/.test(err.message)) return new ProbeFailure(`Redis at ${host} is still loading its data set into memory`);
  return new ProbeFailure(`${host}: ${err.message}`);
}

function num(value: string | undefined): number {
  const n = Number(value);
  return Number.isFinite(n) ? n : 0;
}

function percent(ratio: number): string {
  return `${Math.round(ratio * 1000) / 10}%`;
}

function mib(bytes: number): string {
  return `${Math.round((bytes / 1024 / 1024) * 10) / 10} MiB`;
}
