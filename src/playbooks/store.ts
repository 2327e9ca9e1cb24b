import { randomBytes } from "node:crypto";
import type { Result } from "ioredis";
import type { RedisConnection as Redis } from "../core/index.ts";
import { UpstreamError } from "../core/index.ts";
import { HeldRuns } from "./holds.ts";
import { PlaybookKeys } from "./keys.ts";
import { isTerminal, type PlaybookRun, type RunState } from "./model.ts";
import { CLAIM_LUA, FINISH_RUN_LUA, RELEASE_ACTIVE_LUA, RELEASE_LOCK_LUA, RENEW_LOCK_LUA, SAVE_RUN_LUA } from "./scripts.ts";
import type { TargetMemory } from "./steps/types.ts";

/** How many runs are kept for the audit (the oldest go first). */
const RUNS_KEPT = 1_000;

/** A guard that kept a run from starting. */
export type Guard = "busy" | "cooldown" | "max_runs";

export type ClaimResult = { claimed: true; run: PlaybookRun } | { claimed: false; guard: Guard; detail: string };

/** What the engine keeps per playbook between runs. */
export interface PlaybookState {
  /** Its run in progress (or awaiting approval). */
  active?: string;
  last_ended_at?: number;
  /** A failed run: the playbook is held until its trigger clears (or it is enabled again). */
  tripped?: string;
  /** A successful run of a `once_per_episode` playbook: no new run until the trigger clears. */
  mitigated?: string;
  /** A successful run whose restore steps have not run yet. */
  restore_pending?: string;
  /** Since when the trigger's condition has held, as its evaluations saw it (ms). */
  firing_since?: number;
  /** Since when the trigger has been clear (ms). */
  clear_since?: number;
  /** Why it is held right now (a maintenance window). */
  held?: { reason: string; since: string };
  /** The last guard that kept a run from starting. */
  refused?: { guard: Guard; until?: string; at: string };
}

/** Someone else wrote the run between our read and our write. */
export class RunConflict extends UpstreamError {
  constructor(id: string) {
    super(`playbook run ${id} changed while it was being written`);
  }
}

/**
 * The playbook engine's Redis: runs (the audit record), per-playbook state
 * for the guards, toggles, target locks and approve-link keys. Claims and
 * endings are Lua scripts, so concurrent workers agree.
 */
export class PlaybookStore {
  readonly keys: PlaybookKeys;
  /** Runs the guards held back. */
  readonly holds: HeldRuns;

  constructor(
    readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new PlaybookKeys(prefix);
    this.holds = new HeldRuns(redis, this.keys);
    redis.defineCommand("pulseboardClaimRun", { numberOfKeys: 5, lua: CLAIM_LUA });
    redis.defineCommand("pulseboardSaveRun", { numberOfKeys: 1, lua: SAVE_RUN_LUA });
    redis.defineCommand("pulseboardFinishRun", { numberOfKeys: 2, lua: FINISH_RUN_LUA });
    redis.defineCommand("pulseboardRenewLock", { numberOfKeys: 1, lua: RENEW_LOCK_LUA });
    redis.defineCommand("pulseboardReleaseLock", { numberOfKeys: 1, lua: RELEASE_LOCK_LUA });
  }

  /** Creates `run` if the guards allow it (restore runs skip cooldown and max runs). */
  async claim(run: PlaybookRun, guards: { cooldownMs: number; maxRuns: number; perMs: number }, now = Date.now()): Promise<ClaimResult> {
    const [outcome, detail] = (await this.redis.pulseboardClaimRun(
      this.keys.state(run.playbook),
      this.keys.recent(run.playbook),
      this.keys.runs,
      this.keys.runsOf(run.playbook),
      this.keys.run(run.id),
      String(now),
      run.kind,
      String(guards.cooldownMs),
      String(guards.maxRuns),
      String(guards.perMs),
      run.id,
      JSON.stringify(run),
    )) as [string, string];
    if (outcome !== "claimed") return { claimed: false, guard: outcome as Guard, detail };
    await this.trim(run.playbook);
    return { claimed: true, run };
  }

  /**
   * Records a run a person asked for (`run.requested`: a dry run) as queued,
   * beside the others in the audit, without claiming any guard: it never
   * makes the playbook busy and counts for no cooldown or max runs.
   */
  async startRequested(run: PlaybookRun, now = Date.now()): Promise<PlaybookRun> {
    if (!run.requested) throw new Error(`run ${run.id} was not asked for by a person`);
    await this.redis.multi().set(this.keys.run(run.id), JSON.stringify(run)).zadd(this.keys.runs, now, run.id).zadd(this.keys.runsOf(run.playbook), now, run.id).exec();
    await this.trim(run.playbook);
    return run;
  }

  /** When the playbook's recovery runs within the last `perMs` started (ms, oldest first): what its max-runs guard counts. */
  async recentStarts(playbook: string, perMs: number, now = Date.now()): Promise<number[]> {
    const scores = await this.redis.zrangebyscore(this.keys.recent(playbook), `(${now - perMs}`, "+inf", "WITHSCORES");
    return scores.filter((_, i) => i % 2 === 1).map(Number);
  }

  async run(id: string): Promise<PlaybookRun | undefined> {
    const json = await this.redis.get(this.keys.run(id));
    return json ? (JSON.parse(json) as PlaybookRun) : undefined;
  }

  /** Most recent runs first, of every playbook or of one. */
  async recentRuns(options: { playbook?: string; limit?: number } = {}): Promise<PlaybookRun[]> {
    const index = options.playbook ? this.keys.runsOf(options.playbook) : this.keys.runs;
    const ids = await this.redis.zrevrange(index, 0, (options.limit ?? 50) - 1);
    if (ids.length === 0) return [];
    const docs = await this.redis.mget(ids.map((id) => this.keys.run(id)));
    return docs.flatMap((doc) => (doc ? [JSON.parse(doc) as PlaybookRun] : []));
  }

  /** Writes the run as the next revision of what was read; RunConflict if someone wrote it since. */
  async save(run: PlaybookRun): Promise<PlaybookRun> {
    const next = { ...run, revision: run.revision + 1, updated_at: new Date().toISOString() };
    const answer = await this.redis.pulseboardSaveRun(this.keys.run(run.id), String(run.revision), JSON.stringify(next));
    if (answer !== "ok") throw new RunConflict(run.id);
    return next;
  }

  /** Writes the run in its final state and frees its playbook, in one step. */
  /** Ends a run; `deferred` (a restore that could not act yet) keeps the restore pending for another clear duration. */
  async finish(run: PlaybookRun, state: RunState, hasRestore: boolean, deferred = false): Promise<PlaybookRun> {
    const oncePerEpisode = run.kind === "recovery" && run.inputs.guards.oncePerEpisode;
    if (!isTerminal(state)) throw new Error(`${state} is not a final state`);
    const at = new Date();
    const next = { ...run, state, ended_at: run.ended_at ?? at.toISOString(), revision: run.revision + 1, updated_at: at.toISOString() };
    const answer = await this.redis.pulseboardFinishRun(
      this.keys.run(run.id),
      this.keys.state(run.playbook),
      String(run.revision),
      JSON.stringify(next),
      run.id,
      run.requested ? "requested" : run.kind,
      state,
      String(at.getTime()),
      hasRestore ? "1" : "0",
      deferred ? "1" : "0",
      oncePerEpisode ? "1" : "0",
    );
    if (answer !== "ok") throw new RunConflict(run.id);
    return next;
  }

  /**
   * Reads, changes and writes a run, again on a conflict. `change` returns
   * the new run, or undefined to leave it as it is.
   */
  async update(id: string, change: (run: PlaybookRun) => PlaybookRun | undefined): Promise<{ run: PlaybookRun | undefined; changed: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const run = await this.run(id);
      if (!run) return { run: undefined, changed: false };
      const next = change(run);
      if (!next) return { run, changed: false };
      try {
        return { run: await this.save(next), changed: true };
      } catch (err) {
        if (!(err instanceof RunConflict) || attempt >= 10) throw err;
      }
    }
  }

  async state(playbook: string): Promise<PlaybookState> {
    const raw = await this.redis.hgetall(this.keys.state(playbook));
    const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
    const json = <T>(v: string | undefined) => (v === undefined ? undefined : (JSON.parse(v) as T));
    return {
      active: raw.active,
      last_ended_at: num(raw.last_ended_at),
      tripped: raw.tripped,
      mitigated: raw.mitigated,
      restore_pending: raw.restore_pending,
      firing_since: num(raw.firing_since),
      clear_since: num(raw.clear_since),
      held: json(raw.held),
      refused: json(raw.refused),
    };
  }

  /** Notes that a trigger's condition holds, from `now` unless it already did (the episode's start, until it clears); returns since when. */
  async firingSince(playbook: string, now: number): Promise<number> {
    await this.redis.hsetnx(this.keys.state(playbook), "firing_since", String(now));
    return Number((await this.redis.hget(this.keys.state(playbook), "firing_since")) ?? now);
  }

  /** Notes that the trigger is clear, from `now` unless it already was; returns since when. */
  async clearSince(playbook: string, now: number): Promise<number> {
    const key = this.keys.state(playbook);
    const [, , since] = (await this.redis.multi().hsetnx(key, "clear_since", String(now)).hdel(key, "firing_since", "tripped", "mitigated").hget(key, "clear_since").exec())!.map(([, v]) => v);
    return Number(since ?? now);
  }

  /** The trigger fires: it is no longer clear. */
  async notClear(playbook: string): Promise<void> {
    await this.redis.hdel(this.keys.state(playbook), "clear_since");
  }

  async clearFiring(playbook: string): Promise<void> {
    await this.redis.hdel(this.keys.state(playbook), "firing_since");
  }

  /** Frees a playbook whose run in progress is `run` (a record that vanished). */
  async release(playbook: string, run: string): Promise<void> {
    await this.redis.eval(RELEASE_ACTIVE_LUA, 1, this.keys.state(playbook), run);
  }

  /** Lets a playbook that failed run again before its trigger clears. */
  async untrip(playbook: string): Promise<void> {
    await this.redis.hdel(this.keys.state(playbook), "tripped");
  }

  /** Records why the playbook is held (or that it is not); returns whether that changed. */
  async setHeld(playbook: string, held: { reason: string; since: string } | undefined): Promise<boolean> {
    const key = this.keys.state(playbook);
    if (!held) return (await this.redis.hdel(key, "held")) === 1;
    return (await this.redis.hsetnx(key, "held", JSON.stringify(held))) === 1;
  }

  /** Records the guard that kept the last run from starting; returns whether it is news. */
  async setRefused(playbook: string, refused: { guard: Guard; until?: string; at: string }): Promise<boolean> {
    const key = this.keys.state(playbook);
    const raw = await this.redis.hget(key, "refused");
    const before = raw ? (JSON.parse(raw) as { guard: Guard; until?: string }) : undefined;
    if (before?.guard === refused.guard && before.until === refused.until) return false;
    await this.redis.hset(key, "refused", JSON.stringify(refused));
    return true;
  }

  /** Playbooks switched on or off through the admin API. */
  async overrides(): Promise<Map<string, boolean>> {
    const raw = await this.redis.hgetall(this.keys.overrides);
    return new Map(Object.entries(raw).map(([id, value]) => [id, value === "on"]));
  }

  async setOverride(playbook: string, enabled: boolean): Promise<void> {
    await this.redis.hset(this.keys.overrides, playbook, enabled ? "on" : "off");
    if (enabled) await this.untrip(playbook);
  }

  /** Takes a target's lock for `ttlMs` if it is free. */
  async acquireLock(target: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.lock(target), value, "PX", ttlMs, "NX")) === "OK";
  }

  async renewLock(target: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.pulseboardRenewLock(this.keys.lock(target), value, String(ttlMs))) === 1;
  }

  async releaseLock(target: string, value: string): Promise<void> {
    await this.redis.pulseboardReleaseLock(this.keys.lock(target), value);
  }

  /** Who holds a target's lock: `<run>:<token>`. */
  async lockHolder(target: string): Promise<string | undefined> {
    return (await this.redis.get(this.keys.lock(target))) ?? undefined;
  }

  /** What a target remembers between runs. */
  memory(target: string): TargetMemory {
    const key = this.keys.memory(target);
    return {
      get: async (name) => (await this.redis.hget(key, name)) ?? undefined,
      set: async (name, value) => {
        await this.redis.hset(key, name, value);
      },
    };
  }

  /** The key approve links are signed with: random, made once, shared by every process. */
  async linkKey(): Promise<Buffer> {
    await this.redis.set(this.keys.linkKey, randomBytes(32).toString("base64"), "NX");
    const key = await this.redis.get(this.keys.linkKey);
    if (!key) throw new UpstreamError("the approve-link key could not be read from Redis");
    return Buffer.from(key, "base64");
  }

  /** Marks an approve link used; false when it was used before. */
  async useLink(nonce: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.usedLink(nonce), "1", "PX", Math.max(1_000, ttlMs), "NX")) === "OK";
  }

  /** Forgets the oldest runs beyond what is kept. */
  private async trim(playbook: string): Promise<void> {
    await this.redis.zremrangebyrank(this.keys.runsOf(playbook), 0, -(RUNS_KEPT + 1));
    const excess = (await this.redis.zcard(this.keys.runs)) - RUNS_KEPT;
    if (excess <= 0) return;
    const old = await this.redis.zrange(this.keys.runs, 0, excess - 1);
    await this.redis.multi().del(...old.map((id) => this.keys.run(id))).zrem(this.keys.runs, ...old).exec();
  }
}

declare module "ioredis" {
  interface RedisCommander<Context> {
    pulseboardClaimRun(...args: string[]): Result<[string, string], Context>;
    pulseboardSaveRun(...args: string[]): Result<string, Context>;
    pulseboardFinishRun(...args: string[]): Result<string, Context>;
    pulseboardRenewLock(...args: string[]): Result<number, Context>;
    pulseboardReleaseLock(...args: string[]): Result<number, Context>;
  }
}
