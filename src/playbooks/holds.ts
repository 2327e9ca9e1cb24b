import type { Result } from "ioredis";
import type { RedisConnection as Redis } from "../core/index.ts";
import type { PlaybookKeys } from "./keys.ts";
import type { RunKind } from "./model.ts";

/** How many held-back runs are kept (the oldest go first). */
const HOLDS_KEPT = 500;

/**
 * What kept a run from starting although its trigger fired: `cooldown` and
 * `max_runs` (the claim's guards), `maintenance` (a window covers its
 * components), `tripped` (its last run failed: held until the trigger clears).
 */
export type HoldGuard = "cooldown" | "max_runs" | "maintenance" | "tripped";

/** One time a guard held a playbook's run back: once per guard and trigger episode. */
export interface HeldRun {
  /** `<playbook>.<kind>.<guard>.<since>.<until>`: the same hold recorded twice is one record. */
  id: string;
  playbook: string;
  /** The playbook's name, as in pulseboard.yaml. */
  name: string;
  kind: RunKind;
  guard: HoldGuard;
  /** Why, in words ("cooldown after its last run, until 2026-…"). */
  reason: string;
  /** When the guard lets a run start again (ISO 8601), when the guard knows it. */
  until?: string;
  /** The incident the run would have reported to, when one was open. */
  incident?: string;
  /** The trigger, in words, as it fired. */
  trigger: string;
  /** Since when the trigger's condition held (ISO 8601), when known. */
  since?: string;
  /** When the guard first held it back (ISO 8601). */
  at: string;
}

/**
 * Writes a hold once: HSETNX of the record, and only if it is new, its index
 * entry and the trimming of the oldest. KEYS: docs hash, index. ARGV: id, at
 * ms, JSON, kept. Returns 1 when it was new.
 */
const RECORD_HOLD_LUA = `
if redis.call("HSETNX", KEYS[1], ARGV[1], ARGV[3]) == 0 then return 0 end
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
local excess = redis.call("ZCARD", KEYS[2]) - tonumber(ARGV[4])
if excess > 0 then
  local old = redis.call("ZRANGE", KEYS[2], 0, excess - 1)
  redis.call("ZREMRANGEBYRANK", KEYS[2], 0, excess - 1)
  redis.call("HDEL", KEYS[1], unpack(old))
end
return 1
`;

/**
 * The record of runs the guards held back, for ops (the admin API) and
 * `pulseboard chaos`: which playbook, which guard, until when, for which
 * incident. A trigger that keeps firing within one cooldown is one record.
 */
export class HeldRuns {
  constructor(
    private readonly redis: Redis,
    private readonly keys: PlaybookKeys,
  ) {
    redis.defineCommand("pulseboardRecordHold", { numberOfKeys: 2, lua: RECORD_HOLD_LUA });
  }

  /** Records a hold unless it is recorded already; returns whether it was new. */
  async record(hold: HeldRun): Promise<boolean> {
    const added = await this.redis.pulseboardRecordHold(this.keys.heldDocs, this.keys.held, hold.id, String(Date.parse(hold.at)), JSON.stringify(hold), String(HOLDS_KEPT));
    return added === 1;
  }

  /** Adds the incident to a hold recorded before the incident was opened. */
  async attachIncident(id: string, incident: string): Promise<void> {
    const raw = await this.redis.hget(this.keys.heldDocs, id);
    if (!raw) return;
    const hold = JSON.parse(raw) as HeldRun;
    if (hold.incident) return;
    await this.redis.hset(this.keys.heldDocs, id, JSON.stringify({ ...hold, incident }));
  }

  /** Holds first recorded at or after `sinceMs` (all by default), most recent first, of every playbook or of one. */
  async list(options: { sinceMs?: number; playbook?: string; limit?: number } = {}): Promise<HeldRun[]> {
    const ids = await this.redis.zrevrangebyscore(this.keys.held, "+inf", String(options.sinceMs ?? "-inf"));
    if (ids.length === 0) return [];
    const docs = await this.redis.hmget(this.keys.heldDocs, ...ids);
    const holds = docs.flatMap((doc) => (doc ? [JSON.parse(doc) as HeldRun] : []));
    return holds.filter((h) => !options.playbook || h.playbook === options.playbook).slice(0, options.limit ?? 50);
  }
}

declare module "ioredis" {
  interface RedisCommander<Context> {
    pulseboardRecordHold(...args: string[]): Result<number, Context>;
  }
}
