import type { RedisConnection as Redis } from "../core/index.ts";
import type { Config } from "../config/index.ts";

/** What a remote location's reporting looks like now. */
export type ReportingState = "reporting" | "silent" | "never seen";

/** One agent that pushed for a location, by the name of its token. */
export interface AgentReport {
  name: string;
  /** What the agent calls itself (`agent.name` of its pushes) and its version. */
  label?: string;
  version?: string;
  last_push_at: string;
}

/** A location as GET /admin/api/locations lists it. */
export interface LocationReport {
  id: string;
  name: string;
  remote: boolean;
  state: ReportingState | "local";
  state_since: string | null;
  last_push_at: string | null;
  /** Results accepted in the last whole minute. */
  results_per_min: number;
  results_total: number;
  /** Results the agent dropped from its full buffer, as it reported them. */
  dropped_total: number;
  /** How far the agent's clock is ahead of the server's (negative: behind), at its last push. */
  clock_skew_ms: number | null;
  /** No push for this long makes the location silent. */
  silent_after_ms: number | null;
  agents: AgentReport[];
}

/** What one accepted push tells about its location. */
export interface PushReport {
  location: string;
  token: string;
  label?: string;
  version?: string;
  receivedAt: number;
  accepted: number;
  dropped: number;
  skewMs: number;
}

const MINUTE_MS = 60_000;
/** A silent_after of a location with no probe at all: its agent still pushes nothing, so this only names the wait. */
const NO_PROBE_INTERVAL_MS = 30_000;

/** Moves a location's state only from the one its caller saw, so two workers never announce one change twice. */
const MOVE_STATE = `
local current = redis.call('HGET', KEYS[1], 'state') or 'never seen'
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'state_since', ARGV[3])
return 1`;

/**
 * Where the web role writes down each accepted push of a remote agent and
 * the worker's silence check reads it: the last push, its agents, results
 * per minute, dropped results and clock skew, and the location's reporting
 * state (`reporting`, `silent`, `never seen`), which the evaluator reads to
 * leave a silent location out of quorum.
 */
export class LocationReports {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(location: string): string {
    return `${this.prefix}:location:${location}`;
  }
  private agentsKey(location: string): string {
    return `${this.prefix}:location:${location}:agents`;
  }
  private minuteKey(location: string, at: number): string {
    return `${this.prefix}:location:${location}:per-min:${Math.floor(at / MINUTE_MS)}`;
  }

  async recordPush(push: PushReport): Promise<void> {
    const key = this.key(push.location);
    const minute = this.minuteKey(push.location, push.receivedAt);
    const agent: AgentReport = { name: push.token, label: push.label, version: push.version, last_push_at: new Date(push.receivedAt).toISOString() };
    await this.redis
      .multi()
      .hset(key, "last_push_at", String(push.receivedAt), "clock_skew_ms", String(Math.round(push.skewMs)))
      .hincrby(key, "results_total", push.accepted)
      .hincrby(key, "dropped_total", push.dropped)
      .hset(this.agentsKey(push.location), push.token, JSON.stringify(agent))
      .incrby(minute, push.accepted)
      .pexpire(minute, 3 * MINUTE_MS)
      .exec();
  }

  /** The reporting state of each location named (`never seen` when nothing was written yet). */
  async states(locations: string[]): Promise<Map<string, ReportingState>> {
    if (locations.length === 0) return new Map();
    const pipeline = this.redis.pipeline();
    for (const location of locations) pipeline.hget(this.key(location), "state");
    const answers = (await pipeline.exec()) ?? [];
    return new Map(locations.map((location, i) => [location, ((answers[i]?.[1] as string | null) ?? "never seen") as ReportingState]));
  }

  /** Compare-and-set of the state; true when this call made the move. */
  async moveState(location: string, from: ReportingState, to: ReportingState, at: number): Promise<boolean> {
    return (await this.redis.eval(MOVE_STATE, 1, this.key(location), from, to, new Date(at).toISOString())) === 1;
  }

  /** Each location's state and when it last pushed (the server's clock), in one round trip. */
  async pulse(locations: string[]): Promise<Map<string, { state: ReportingState; lastPush?: number }>> {
    if (locations.length === 0) return new Map();
    const pipeline = this.redis.pipeline();
    for (const location of locations) pipeline.hmget(this.key(location), "state", "last_push_at");
    const answers = (await pipeline.exec()) ?? [];
    return new Map(
      locations.map((location, i) => {
        const [state, lastPush] = (answers[i]?.[1] ?? []) as (string | null)[];
        return [location, { state: (state ?? "never seen") as ReportingState, ...(lastPush ? { lastPush: Number(lastPush) } : {}) }];
      }),
    );
  }

  async list(config: Config, now = Date.now()): Promise<LocationReport[]> {
    return Promise.all(config.locations.map((location) => this.report(config, location, now)));
  }

  private async report(config: Config, location: Config["locations"][number], now: number): Promise<LocationReport> {
    const [fields, agents, lastMinute] = await Promise.all([
      this.redis.hgetall(this.key(location.id)),
      this.redis.hgetall(this.agentsKey(location.id)),
      this.redis.get(this.minuteKey(location.id, now - MINUTE_MS)),
    ]);
    const lastPush = fields.last_push_at ? Number(fields.last_push_at) : undefined;
    return {
      id: location.id,
      name: location.name,
      remote: location.remote,
      state: location.remote ? ((fields.state as ReportingState | undefined) ?? "never seen") : "local",
      state_since: fields.state_since ?? null,
      last_push_at: lastPush === undefined ? null : new Date(lastPush).toISOString(),
      results_per_min: Number(lastMinute ?? 0),
      results_total: Number(fields.results_total ?? 0),
      dropped_total: Number(fields.dropped_total ?? 0),
      clock_skew_ms: fields.clock_skew_ms === undefined ? null : Number(fields.clock_skew_ms),
      silent_after_ms: location.remote ? silentAfterMs(config, location.id) : null,
      agents: Object.values(agents)
        .map((raw) => JSON.parse(raw) as AgentReport)
        .sort((a, b) => b.last_push_at.localeCompare(a.last_push_at)),
    };
  }
}

/** How long a remote location may push nothing before it is silent: `silent_after` of its shortest probe interval. */
export function silentAfterMs(config: Config, location: string): number {
  const settings = config.locations.find((l) => l.id === location);
  const intervals = probesRunFrom(config, location).map((p) => p.interval);
  return (settings?.silent_after ?? 3) * (intervals.length > 0 ? Math.min(...intervals) : NO_PROBE_INTERVAL_MS);
}

/** The probes an agent of `location` runs: enabled, not paused, not heartbeat checks (those are pinged, never run). */
export function probesRunFrom(config: Config, location: string, paused: ReadonlySet<string> = new Set()): Config["probes"] {
  return config.probes.filter((p) => p.enabled && !paused.has(p.id) && p.kind !== "heartbeat" && p.locations.includes(location));
}
