/**
 * Starts a run when the playbook's guards allow it, atomically, so any
 * number of evaluators (workers) start it once.
 * KEYS: state, recent, runs, runsOf, run doc
 * ARGV: now, kind, cooldown ms, max runs, per ms, run id, run JSON
 * Returns { "claimed", id } or { guard, detail }: busy (its run in progress),
 * cooldown (until when), max_runs (until when).
 */
export const CLAIM_LUA = `
local now = tonumber(ARGV[1])
local active = redis.call("HGET", KEYS[1], "active")
if active then return {"busy", active} end
if ARGV[2] == "recovery" then
  local last = tonumber(redis.call("HGET", KEYS[1], "last_ended_at") or "0")
  local cooldown = tonumber(ARGV[3])
  if last > 0 and now < last + cooldown then return {"cooldown", tostring(last + cooldown)} end
  local per = tonumber(ARGV[5])
  redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", now - per)
  if redis.call("ZCARD", KEYS[2]) >= tonumber(ARGV[4]) then
    local oldest = redis.call("ZRANGE", KEYS[2], 0, 0, "WITHSCORES")
    return {"max_runs", tostring(tonumber(oldest[2]) + per)}
  end
  redis.call("ZADD", KEYS[2], now, ARGV[6])
  redis.call("PEXPIRE", KEYS[2], per)
end
redis.call("HSET", KEYS[1], "active", ARGV[6])
redis.call("HDEL", KEYS[1], "refused")
redis.call("SET", KEYS[5], ARGV[7])
redis.call("ZADD", KEYS[3], now, ARGV[6])
redis.call("ZADD", KEYS[4], now, ARGV[6])
return {"claimed", ARGV[6]}
`;

/**
 * Writes a run if nobody else wrote it since it was read (its revision).
 * KEYS: run doc. ARGV: expected revision, new JSON. Returns ok, conflict or missing.
 */
export const SAVE_RUN_LUA = `
local current = redis.call("GET", KEYS[1])
if not current then return "missing" end
if tostring(cjson.decode(current).revision) ~= ARGV[1] then return "conflict" end
redis.call("SET", KEYS[1], ARGV[2])
return "ok"
`;

/**
 * Ends a run: writes it (guarded by its revision, like SAVE_RUN_LUA) and,
 * in the same step, frees its playbook and records what the guards and the
 * restore need: when it ended (cooldown), a failure (held until the trigger
 * clears), a success with restore steps (restore pending). A restore that
 * deferred itself keeps the restore pending and starts the clear duration over.
 * A success of a once-per-episode playbook marks it mitigated until the trigger clears.
 * A run a person asked for (kind `requested`: a dry run) changes none of it.
 * KEYS: run doc, state. ARGV: expected revision, JSON, run id, kind (recovery, restore, requested), final state, now ms, has restore (1/0), deferred (1/0), once per episode (1/0).
 */
export const FINISH_RUN_LUA = `
local current = redis.call("GET", KEYS[1])
if not current then return "missing" end
if tostring(cjson.decode(current).revision) ~= ARGV[1] then return "conflict" end
redis.call("SET", KEYS[1], ARGV[2])
if redis.call("HGET", KEYS[2], "active") == ARGV[3] then redis.call("HDEL", KEYS[2], "active") end
if ARGV[4] == "recovery" then
  redis.call("HSET", KEYS[2], "last_ended_at", ARGV[6])
  if ARGV[5] == "failed" then redis.call("HSET", KEYS[2], "tripped", ARGV[3]) end
  if ARGV[5] == "succeeded" and ARGV[7] == "1" then redis.call("HSET", KEYS[2], "restore_pending", ARGV[3]) end
  if ARGV[5] == "succeeded" and ARGV[9] == "1" then redis.call("HSET", KEYS[2], "mitigated", ARGV[3]) end
elseif ARGV[4] == "restore" then
  if ARGV[8] == "1" then
    redis.call("HSET", KEYS[2], "clear_since", ARGV[6])
  elseif redis.call("HGET", KEYS[2], "restore_pending") then
    redis.call("HDEL", KEYS[2], "restore_pending")
  end
end
return "ok"
`;

/** Extends a lock's life if the caller still holds it. KEYS: lock. ARGV: value, ttl ms. */
export const RENEW_LOCK_LUA = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("PEXPIRE", KEYS[1], ARGV[2])
  return 1
end
return 0
`;

/** Frees a lock if the caller holds it. KEYS: lock. ARGV: value. */
export const RELEASE_LOCK_LUA = `
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("DEL", KEYS[1])
  return 1
end
return 0
`;

/** Frees a playbook if `run` is still its run in progress. KEYS: state. ARGV: run id. */
export const RELEASE_ACTIVE_LUA = `
if redis.call("HGET", KEYS[1], "active") == ARGV[1] then
  redis.call("HDEL", KEYS[1], "active")
  return 1
end
return 0
`;
