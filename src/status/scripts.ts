/**
 * Writes an incident document and its indexes in one step, with the outbox
 * entry that announces the new timeline entry to on-call channels (so a post
 * is never lost, nor sent for a write that did not happen).
 * A draft goes into the drafts index instead of the public ones (and leaves
 * it, for them, when it is published), so no public reader ever meets it.
 * The outbox entry may be conditional: written only when a marker key exists
 * (a cancelled window is announced only if its reminder went out).
 * KEYS: incident, incidents (zset), unresolved (set), automatic id, idempotency marker, outbox stream, drafts (zset),
 *       the outbox entry's condition marker
 * ARGV: json, created ms, id, unresolved 0/1, automatic set|clear|"", expected
 *       revision or "", use idempotency 0/1, idempotency ttl s, events channel, event json,
 *       outbox entry json or "", draft 0/1, outbox entry only if KEYS[8] exists 0/1
 * Returns "written", "duplicate" (the idempotency key was used) or "conflict".
 */
export const WRITE_INCIDENT_LUA = `
if ARGV[7] == "1" and redis.call("EXISTS", KEYS[5]) == 1 then
  return "duplicate"
end
if ARGV[6] ~= "" then
  local current = redis.call("GET", KEYS[1])
  if current then
    local ok, doc = pcall(cjson.decode, current)
    if ok and tostring(doc.revision) ~= ARGV[6] then
      return "conflict"
    end
  end
end
redis.call("SET", KEYS[1], ARGV[1])
if ARGV[12] == "1" then
  redis.call("ZADD", KEYS[7], ARGV[2], ARGV[3])
else
  redis.call("ZREM", KEYS[7], ARGV[3])
  redis.call("ZADD", KEYS[2], ARGV[2], ARGV[3])
  if ARGV[4] == "1" then
    redis.call("SADD", KEYS[3], ARGV[3])
  else
    redis.call("SREM", KEYS[3], ARGV[3])
  end
end
if ARGV[5] == "set" then
  redis.call("SET", KEYS[4], ARGV[3])
elseif ARGV[5] == "clear" then
  if redis.call("GET", KEYS[4]) == ARGV[3] then
    redis.call("DEL", KEYS[4])
  end
end
if ARGV[7] == "1" then
  redis.call("SET", KEYS[5], "1", "EX", tonumber(ARGV[8]))
end
if ARGV[11] ~= "" and (ARGV[13] ~= "1" or redis.call("EXISTS", KEYS[8]) == 1) then
  redis.call("XADD", KEYS[6], "MAXLEN", "~", 10000, "*", "e", ARGV[11])
end
redis.call("PUBLISH", ARGV[9], ARGV[10])
return "written"
`;

/**
 * Writes a window's reminder to the maintenance outbox once: not when its
 * marker is set (another scheduler, or an earlier tick, wrote it), nor when
 * the window changed since it was read (it started, was cancelled or moved:
 * the next look decides again), so a reminder never follows the start.
 * KEYS: reminder marker, maintenance outbox stream, maintenance document
 * ARGV: revision read, outbox entry json, marker ttl s
 * Returns "written", "duplicate" or "stale".
 */
export const REMIND_MAINTENANCE_LUA = `
if redis.call("EXISTS", KEYS[1]) == 1 then
  return "duplicate"
end
local current = redis.call("GET", KEYS[3])
if not current then
  return "stale"
end
local ok, doc = pcall(cjson.decode, current)
if not ok or tostring(doc.revision) ~= ARGV[1] then
  return "stale"
end
redis.call("SET", KEYS[1], "1", "EX", tonumber(ARGV[3]))
redis.call("XADD", KEYS[2], "MAXLEN", "~", 10000, "*", "e", ARGV[2])
return "written"
`;

/**
 * Moves a component's effective status (what customers see) to a new value,
 * first adding the time spent in the old one to the per-day uptime hashes,
 * split at UTC midnights, and announces the change on the component outbox
 * in the same step (so a change is announced once, and never lost). A
 * component's first status is announced only when it is not operational.
 * KEYS: effective hash, retention zset, component outbox stream
 * ARGV: component, new status, now ms, uptime key prefix, ms to keep a block after it ends, earliest ms worth counting, now ISO 8601
 * Returns 1 when the status changed, 0 when it was already that.
 */
export const EFFECTIVE_TRANSITION_LUA = `
local current = redis.call("HGET", KEYS[1], ARGV[1])
local now = tonumber(ARGV[3])
if current then
  local sep = string.find(current, "|", 1, true)
  local status = string.sub(current, 1, sep - 1)
  if status == ARGV[2] then
    return 0
  end
  local t = math.max(tonumber(string.sub(current, sep + 1)), tonumber(ARGV[6]))
  while t < now do
    local day = math.floor(t / 86400000)
    local stop = math.min((day + 1) * 86400000, now)
    local block = math.floor(day / 32)
    local key = ARGV[4] .. block
    redis.call("HINCRBY", key, day .. ":" .. status, stop - t)
    redis.call("ZADD", KEYS[2], "NX", (block + 1) * 32 * 86400000 + tonumber(ARGV[5]), key)
    t = stop
  end
end
local old = "operational"
if current then
  old = string.sub(current, 1, string.find(current, "|", 1, true) - 1)
end
redis.call("HSET", KEYS[1], ARGV[1], ARGV[2] .. "|" .. ARGV[3])
if current or ARGV[2] ~= "operational" then
  local entry = cjson.encode({ type = "component.updated", component = ARGV[1], old_status = old, new_status = ARGV[2], at = ARGV[7] })
  redis.call("XADD", KEYS[3], "MAXLEN", "~", 10000, "*", "e", entry)
end
return 1
`;
