import type { Result } from "ioredis";
import type { RedisConnection as Redis } from "../core/index.ts";
import { EFFECTIVE_TRANSITION_LUA, REMIND_MAINTENANCE_LUA, WRITE_INCIDENT_LUA } from "./scripts.ts";
import type { MaintenanceOutboxEntry } from "./maintenance-notices.ts";
import { fitLatency, foldLatency, last24h, last24hByMinute, last7d, stageRollups, type LatencyPoint } from "./rollups.ts";
import { DAY_MS } from "./time.ts";
import { UPTIME_RETENTION_MS, foldUptime, uptimeWindow, type UptimeDay } from "./uptime.ts";
import type { ComponentStatus } from "./model.ts";
import { ReplicaWait, UpstreamError, checkExec, type Logger } from "../core/index.ts";
import type { ProbeResult } from "../probe-runtime/index.ts";
import { Keys } from "./keys.ts";
import { isUnresolved, type ComponentState, type ComponentTransition, type Incident, type Maintenance } from "./model.ts";

/** How many raw results are kept per probe and location. */
const RESULTS_KEPT = 1_000;
/** How many transitions are kept per component. */
const HISTORY_KEPT = 10_000;
/** How long an idempotency marker lives: longer than any job retry. */
const IDEMPOTENCY_TTL_S = 7 * 24 * 3_600;

/** Per-location evaluation state of a probe (hysteresis counters). */
export interface ProbeLocationState {
  state: "up" | "degraded" | "down";
  /** Consecutive results that disagree with `state`, by what they say. */
  streak: number;
  streak_state: "up" | "degraded" | "down";
  last_result_id: string;
  last_result_at: string;
  /**
   * When the result that last moved this state started. A result that started
   * earlier and finished later (a scheduled run that overlapped a playbook's
   * verify or a run-now) was overtaken: it is history, not news.
   */
  last_started_at?: string;
  since: string;
}

/** A location whose every probe fails at once: its results may say more about it than about the platform. */
export interface LocationFlag {
  since: string;
  reason: string;
}

/** A timeline entry waiting to be announced to on-call channels. */
export interface OutboxEntry {
  type: "incident.opened" | "incident.updated" | "incident.resolved";
  incident: string;
  update: string;
  at: string;
}

/** A change of a component's effective status, waiting to be announced to status-page subscribers. */
export interface ComponentOutboxEntry {
  type: "component.updated";
  component: string;
  old_status: ComponentStatus;
  new_status: ComponentStatus;
  /** When it changed (ISO 8601). */
  at: string;
}

export type ChangeEvent =
  | { type: "component"; id: string; at: string }
  | { type: "incident"; id: string; at: string }
  | { type: "maintenance"; id: string; at: string };

/**
 * The control plane's record of component status, probe results and
 * incidents, kept in Redis. Only the verbs of this room write through it.
 */
export class StatusStore {
  readonly keys: Keys;

  /** Incidents and maintenance are answered only once a replica has them, when there is one. */
  private readonly replicas: ReplicaWait;

  constructor(
    readonly redis: Redis,
    prefix: string,
    options: { log?: Logger } = {},
  ) {
    this.keys = new Keys(prefix);
    this.replicas = new ReplicaWait(redis, { key: this.keys.prefix, log: options.log?.child({ module: "status.store" }) });
    redis.defineCommand("pulseboardWriteIncident", { numberOfKeys: 8, lua: WRITE_INCIDENT_LUA });
    redis.defineCommand("pulseboardRemindMaintenance", { numberOfKeys: 3, lua: REMIND_MAINTENANCE_LUA });
    redis.defineCommand("pulseboardEffective", { numberOfKeys: 3, lua: EFFECTIVE_TRANSITION_LUA });
  }

  /**
   * Keeps a result (latest, recent list) and adds it to its minute and hour rollups, in one transaction;
   * a `late` one (older than newer results already kept) goes to history and rollups only.
   */
  /** `late`: history only (it arrived after its interval, or was overtaken by a result that started later); the latest result stays what it was. */
  async recordResult(result: ProbeResult, options: { late?: boolean } = {}): Promise<void> {
    const json = JSON.stringify(result);
    const tx = this.redis.multi();
    if (!options.late) tx.set(this.keys.lastResult(result.probe, result.location), json);
    tx.lpush(this.keys.results(result.probe, result.location), json)
      .ltrim(this.keys.results(result.probe, result.location), 0, RESULTS_KEPT - 1);
    stageRollups(tx, this.keys, result);
    await tx.exec().then(checkExec);
  }

  /**
   * A latency chart of one probe over all the given locations: one pipelined
   * round trip. The whole range in fixed points (15 minutes, or an hour for
   * 7d); with `fit`, only the time since the first result, in points as fine
   * as that span allows (see fitLatency).
   */
  async latency(probe: string, locations: string[], range: "24h" | "7d", now = Date.now(), options: { fit?: boolean } = {}): Promise<LatencyPoint[]> {
    const plan = range === "7d" ? last7d(now) : options.fit ? last24hByMinute(now) : last24h(now);
    const reads = locations.flatMap((location) => plan.keys(this.keys, probe, location).map((key, index) => ({ key, index })));
    const pipeline = this.redis.pipeline();
    for (const read of reads) pipeline.hgetall(read.key);
    const answers = (await pipeline.exec().then(checkExec)).map((answer, i) => ({ index: reads[i]!.index, hash: (answer[1] ?? {}) as Record<string, string> }));
    if (!options.fit) return foldLatency(plan, answers);
    return range === "7d" ? fitLatency(plan, answers, now, [1], plan.points) : fitLatency(plan, answers, now, [1, 5, 15], DAY_MS / (15 * 60_000));
  }

  /**
   * Moves a component's effective status (what customers see); the time spent
   * in the previous one goes to the per-day uptime record, and the change is
   * announced on the component outbox (see ComponentOutboxEntry).
   */
  async setEffective(component: string, status: ComponentStatus, now = Date.now()): Promise<boolean> {
    const changed = await this.redis.pulseboardEffective(
      this.keys.effective,
      this.keys.retention,
      this.keys.componentOutbox,
      component,
      status,
      String(now),
      this.keys.uptimePrefix(component),
      String(UPTIME_RETENTION_MS),
      String(now - UPTIME_RETENTION_MS),
      new Date(now).toISOString(),
    );
    // The page's uptime reads this record: announce it, or the page keeps the uptime it read before the change.
    if (changed === 1) await this.redis.publish(this.keys.events, JSON.stringify({ type: "component", id: component, at: new Date(now).toISOString() } satisfies ChangeEvent));
    return changed === 1;
  }

  /** The effective status of every component and since when. */
  async effective(): Promise<Map<string, { status: ComponentStatus; since: number }>> {
    const raw = await this.redis.hgetall(this.keys.effective);
    const out = new Map<string, { status: ComponentStatus; since: number }>();
    for (const [id, value] of Object.entries(raw)) {
      const [status, since] = value.split("|") as [ComponentStatus, string];
      out.set(id, { status, since: Number(since) });
    }
    return out;
  }

  /** Per-day uptime of components over the last `days` days: one pipelined round trip. */
  async uptime(components: string[], days = 90, now = Date.now()): Promise<Map<string, UptimeDay[]>> {
    const window = uptimeWindow(now, days);
    const pipeline = this.redis.pipeline().hgetall(this.keys.effective);
    for (const component of components) for (const block of window.blocks) pipeline.hgetall(`${this.keys.uptimePrefix(component)}${block}`);
    const answers = (await pipeline.exec().then(checkExec)).map(([, value]) => (value ?? {}) as Record<string, string>);
    const effective = answers[0]!;
    const out = new Map<string, UptimeDay[]>();
    components.forEach((component, i) => {
      const hashes = answers.slice(1 + i * window.blocks.length, 1 + (i + 1) * window.blocks.length);
      const raw = effective[component];
      const current = raw ? { status: raw.split("|")[0] as ComponentStatus, since: Number(raw.split("|")[1]) } : undefined;
      out.set(component, foldUptime(window, hashes, current, now));
    });
    return out;
  }

  /** Deletes history keys whose retention ended before `now`; returns how many. */
  async sweepRetention(now = Date.now()): Promise<number> {
    let deleted = 0;
    for (;;) {
      const keys = await this.redis.zrangebyscore(this.keys.retention, "-inf", now, "LIMIT", 0, 500);
      if (keys.length === 0) return deleted;
      await this.redis.multi().del(...keys).zrem(this.keys.retention, ...keys).exec().then(checkExec);
      deleted += keys.length;
    }
  }

  async pausedProbes(): Promise<Set<string>> {
    return new Set(await this.redis.smembers(this.keys.pausedProbes));
  }

  async setProbePaused(probe: string, paused: boolean): Promise<void> {
    if (paused) await this.redis.sadd(this.keys.pausedProbes, probe);
    else await this.redis.srem(this.keys.pausedProbes, probe);
  }

  async lastResults(probe: string, locations: string[]): Promise<Map<string, ProbeResult>> {
    const out = new Map<string, ProbeResult>();
    if (locations.length === 0) return out;
    const values = await this.redis.mget(locations.map((l) => this.keys.lastResult(probe, l)));
    values.forEach((value, i) => {
      if (value) out.set(locations[i]!, JSON.parse(value) as ProbeResult);
    });
    return out;
  }

  async recentResults(probe: string, location: string, limit = 100): Promise<ProbeResult[]> {
    const values = await this.redis.lrange(this.keys.results(probe, location), 0, limit - 1);
    return values.map((v) => JSON.parse(v) as ProbeResult);
  }

  async probeStates(probe: string): Promise<Map<string, ProbeLocationState>> {
    const raw = await this.redis.hgetall(this.keys.probeState(probe));
    const out = new Map<string, ProbeLocationState>();
    for (const [location, json] of Object.entries(raw)) out.set(location, JSON.parse(json) as ProbeLocationState);
    return out;
  }

  async setProbeState(probe: string, location: string, state: ProbeLocationState): Promise<void> {
    await this.redis.hset(this.keys.probeState(probe), location, JSON.stringify(state));
  }

  async flapState<T>(component: string): Promise<T | undefined> {
    const json = await this.redis.hget(this.keys.flap, component);
    return json ? (JSON.parse(json) as T) : undefined;
  }

  async setFlapState(component: string, state: unknown): Promise<void> {
    await this.redis.hset(this.keys.flap, component, JSON.stringify(state));
  }

  /** Locations flagged because every probe there fails at once. */
  async locationFlags(): Promise<Map<string, LocationFlag>> {
    const raw = await this.redis.hgetall(this.keys.locationFlags);
    return new Map(Object.entries(raw).map(([location, json]) => [location, JSON.parse(json) as LocationFlag]));
  }

  /** Flags a location (or clears its flag); returns whether that changed anything. */
  async setLocationFlag(location: string, flag: LocationFlag | undefined): Promise<boolean> {
    if (flag) return (await this.redis.hsetnx(this.keys.locationFlags, location, JSON.stringify(flag))) === 1;
    return (await this.redis.hdel(this.keys.locationFlags, location)) === 1;
  }

  /** The states of many probes at once (one round trip). */
  async probeStatesOf(probes: string[]): Promise<Map<string, Map<string, ProbeLocationState>>> {
    const pipeline = this.redis.pipeline();
    for (const probe of probes) pipeline.hgetall(this.keys.probeState(probe));
    const answers = await pipeline.exec().then(checkExec);
    const out = new Map<string, Map<string, ProbeLocationState>>();
    probes.forEach((probe, i) => {
      const raw = (answers[i]![1] ?? {}) as Record<string, string>;
      out.set(probe, new Map(Object.entries(raw).map(([location, json]) => [location, JSON.parse(json) as ProbeLocationState])));
    });
    return out;
  }

  async components(): Promise<Map<string, ComponentState>> {
    const raw = await this.redis.hgetall(this.keys.components);
    const out = new Map<string, ComponentState>();
    for (const [id, json] of Object.entries(raw)) out.set(id, JSON.parse(json) as ComponentState);
    return out;
  }

  /** The computed states of some components only (those never computed are absent). */
  async componentsOf(ids: string[]): Promise<Map<string, ComponentState>> {
    const out = new Map<string, ComponentState>();
    if (ids.length === 0) return out;
    const values = await this.redis.hmget(this.keys.components, ...ids);
    values.forEach((json, i) => {
      if (json) out.set(ids[i]!, JSON.parse(json) as ComponentState);
    });
    return out;
  }

  async componentHistory(component: string, limit = 100): Promise<ComponentTransition[]> {
    const entries = await this.redis.xrevrange(this.keys.componentHistory(component), "+", "-", "COUNT", limit);
    return entries.map(([, fields]) => JSON.parse(fields[1] ?? "{}") as ComponentTransition);
  }

  /** Writes a component's state and, when its status changed, a history entry. */
  async writeComponent(id: string, state: ComponentState, transition?: ComponentTransition): Promise<void> {
    const tx = this.redis.multi().hset(this.keys.components, id, JSON.stringify(state));
    if (transition) {
      tx.xadd(this.keys.componentHistory(id), "MAXLEN", "~", HISTORY_KEPT, "*", "t", JSON.stringify(transition));
    }
    tx.publish(this.keys.events, JSON.stringify({ type: "component", id, at: state.updated_at } satisfies ChangeEvent));
    await tx.exec().then(checkExec);
  }

  async incident(id: string): Promise<Incident | undefined> {
    const json = await this.redis.get(this.keys.incident(id));
    return json ? (JSON.parse(json) as Incident) : undefined;
  }

  async incidents(ids: string[]): Promise<Incident[]> {
    if (ids.length === 0) return [];
    const values = await this.redis.mget(ids.map((id) => this.keys.incident(id)));
    return values.flatMap((v) => (v ? [JSON.parse(v) as Incident] : []));
  }

  /** Most recent public incidents first (drafts are never among them). */
  async recentIncidents(limit: number): Promise<Incident[]> {
    const ids = await this.redis.zrevrange(this.keys.incidents, 0, limit - 1);
    return this.incidents(ids);
  }

  /** What on-call lists: the most recent incidents, drafts among them, newest first. */
  async recentIncidentsAndDrafts(limit: number): Promise<Incident[]> {
    const answers = await this.redis
      .pipeline()
      .zrevrange(this.keys.incidents, 0, limit - 1, "WITHSCORES")
      .zrevrange(this.keys.drafts, 0, limit - 1, "WITHSCORES")
      .exec()
      .then(checkExec);
    const scored = answers.flatMap(([, flat]) => pairs(flat as string[]));
    const ids = scored.sort((a, b) => b.score - a.score).slice(0, limit).map((e) => e.id);
    return this.incidents(ids);
  }

  /**
   * Drafts not yet resolved (incidents.publish: review), newest first, from the
   * drafts index alone; among its newest `limit` (drafts that resolved unpublished stay in it).
   */
  async draftsAwaitingReview(limit = 200): Promise<Incident[]> {
    const ids = await this.redis.zrevrange(this.keys.drafts, 0, limit - 1);
    return (await this.incidents(ids)).filter((i) => i.draft && isUnresolved(i));
  }

  /** Public incidents not yet resolved, newest first (drafts are never among them). */
  async unresolvedIncidents(): Promise<Incident[]> {
    const ids = await this.redis.smembers(this.keys.unresolved);
    const incidents = await this.incidents(ids);
    return incidents.sort((a, b) => b.created_at.localeCompare(a.created_at));
  }

  async automaticIncidentId(): Promise<string | undefined> {
    return (await this.redis.get(this.keys.automaticIncident)) ?? undefined;
  }

  /**
   * Writes an incident atomically with its indexes. With an idempotency key,
   * a second write under the same key does nothing and returns false, so a
   * retried job never adds a second timeline entry.
   *
   * `expectedRevision` is the revision the caller read; if someone else wrote
   * the incident since, the write is refused with IncidentConflict and the
   * caller re-reads and tries again.
   */
  async writeIncident(
    incident: Incident,
    options: { key?: string; expectedRevision?: number; automatic?: "set" | "clear"; announce?: OutboxEntry["type"] } = {},
  ): Promise<boolean> {
    const update = incident.updates.at(-1);
    const outbox: OutboxEntry | undefined =
      options.announce && update ? { type: options.announce, incident: incident.id, update: update.id, at: update.created_at } : undefined;
    return this.writeDocument(
      { doc: this.keys.incident(incident.id), index: this.keys.incidents, open: this.keys.unresolved, automatic: this.keys.automaticIncident, drafts: this.keys.drafts },
      { id: incident.id, json: JSON.stringify(incident), createdAt: incident.created_at, open: isUnresolved(incident), revision: incident.revision, draft: incident.draft === true },
      { type: "incident", id: incident.id, at: incident.updated_at },
      { ...options, outbox: outbox && { stream: this.keys.outbox, entry: outbox } },
    );
  }

  async maintenance(id: string): Promise<Maintenance | undefined> {
    const json = await this.redis.get(this.keys.maintenance(id));
    return json ? (JSON.parse(json) as Maintenance) : undefined;
  }

  /** Maintenances not yet completed, by scheduled start. */
  async openMaintenances(): Promise<Maintenance[]> {
    const ids = await this.redis.smembers(this.keys.maintenancesOpen);
    return (await this.documents<Maintenance>(ids.map((id) => this.keys.maintenance(id)))).sort((a, b) => a.scheduled_for.localeCompare(b.scheduled_for));
  }

  /** Most recently scheduled maintenances first. */
  async recentMaintenances(limit: number): Promise<Maintenance[]> {
    const ids = await this.redis.zrevrange(this.keys.maintenances, 0, limit - 1);
    return this.documents<Maintenance>(ids.map((id) => this.keys.maintenance(id)));
  }

  /**
   * Writes a maintenance like an incident: atomically, keyed, guarded by its
   * revision, with the notice that announces the change on the maintenance
   * outbox in the same step (`announce`; with `announceIf`, only when that
   * marker key exists).
   */
  async writeMaintenance(maintenance: Maintenance, options: { key?: string; expectedRevision?: number; announce?: MaintenanceOutboxEntry; announceIf?: string } = {}): Promise<boolean> {
    return this.writeDocument(
      {
        doc: this.keys.maintenance(maintenance.id),
        index: this.keys.maintenances,
        open: this.keys.maintenancesOpen,
        automatic: `${this.keys.maintenances}:-`,
        drafts: `${this.keys.maintenances}:-drafts`,
      },
      {
        id: maintenance.id,
        json: JSON.stringify(maintenance),
        createdAt: maintenance.scheduled_for,
        open: maintenance.status !== "completed",
        revision: maintenance.revision,
      },
      { type: "maintenance", id: maintenance.id, at: maintenance.updated_at },
      { ...options, outbox: options.announce && { stream: this.keys.maintenanceOutbox, entry: options.announce, onlyIf: options.announceIf } },
    );
  }

  /**
   * Writes a window's reminder to the maintenance outbox, once per window and
   * start time, and only while the window is still at `revision` (see
   * REMIND_MAINTENANCE_LUA). The marker outlives the window by a week, so a
   * cancellation can tell whether the reminder went out.
   */
  async writeMaintenanceReminder(entry: MaintenanceOutboxEntry, revision: number, now = Date.now()): Promise<"written" | "duplicate" | "stale"> {
    const ttlS = Math.max(IDEMPOTENCY_TTL_S, Math.ceil((Date.parse(entry.scheduled_until) - now) / 1000) + IDEMPOTENCY_TTL_S);
    const answer = await this.redis.pulseboardRemindMaintenance(
      this.keys.maintenanceReminder(entry.maintenance, entry.scheduled_for),
      this.keys.maintenanceOutbox,
      this.keys.maintenance(entry.maintenance),
      String(revision),
      JSON.stringify(entry),
      String(ttlS),
    );
    return answer as "written" | "duplicate" | "stale";
  }

  private async documents<T>(keys: string[]): Promise<T[]> {
    if (keys.length === 0) return [];
    const values = await this.redis.mget(keys);
    return values.flatMap((v) => (v ? [JSON.parse(v) as T] : []));
  }

  private async writeDocument(
    keys: { doc: string; index: string; open: string; automatic: string; drafts: string },
    doc: { id: string; json: string; createdAt: string; open: boolean; revision: number; draft?: boolean },
    event: ChangeEvent,
    options: { key?: string; expectedRevision?: number; automatic?: "set" | "clear"; outbox?: { stream: string; entry: OutboxEntry | MaintenanceOutboxEntry; onlyIf?: string } },
  ): Promise<boolean> {
    const answer = await this.redis.pulseboardWriteIncident(
      keys.doc,
      keys.index,
      keys.open,
      keys.automatic,
      this.keys.idempotency(options.key ?? "-"),
      options.outbox?.stream ?? this.keys.outbox,
      keys.drafts,
      options.outbox?.onlyIf ?? this.keys.idempotency("-"),
      doc.json,
      String(Date.parse(doc.createdAt)),
      doc.id,
      doc.open ? "1" : "0",
      options.automatic ?? "",
      options.expectedRevision === undefined ? "" : String(options.expectedRevision),
      options.key ? "1" : "0",
      String(IDEMPOTENCY_TTL_S),
      this.keys.events,
      JSON.stringify(event),
      options.outbox ? JSON.stringify(options.outbox.entry) : "",
      doc.draft ? "1" : "0",
      options.outbox?.onlyIf ? "1" : "0",
    );
    if (answer === "conflict") throw new IncidentConflict(doc.id);
    if (answer === "written") await this.replicas.afterWrite(`${event.type} ${doc.id}`);
    return answer === "written";
  }

  /** Answers when the control-plane Redis is reachable. */
  async ping(): Promise<void> {
    await this.redis.ping();
  }
}

/** `[id, score, id, score, …]` as ZRANGE WITHSCORES answers, as pairs. */
function pairs(flat: string[]): { id: string; score: number }[] {
  const out: { id: string; score: number }[] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push({ id: flat[i]!, score: Number(flat[i + 1]) });
  return out;
}

/** Someone else wrote the incident (or maintenance) between our read and our write. */
export class IncidentConflict extends UpstreamError {
  constructor(id: string) {
    super(`${id} changed while it was being written; retry`);
  }
}


declare module "ioredis" {
  interface RedisCommander<Context> {
    pulseboardWriteIncident(...args: string[]): Result<string, Context>;
    pulseboardEffective(...args: string[]): Result<number, Context>;
    pulseboardRemindMaintenance(...args: string[]): Result<string, Context>;
  }
}
