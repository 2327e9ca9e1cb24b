/**
 * Writes an incident document and its indexes in one step.
 * KEYS: incident, incidents (zset), unresolved (set), automatic id, idempotency marker
 * ARGV: json, created ms, id, unresolved 0/1, automatic set|clear|"", expected
 *       revision or "", use idempotency 0/1, idempotency ttl s, events channel, event json
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
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[3])
if ARGV[4] == "1" then
  redis.call("SADD", KEYS[3], ARGV[3])
else
  redis.call("SREM", KEYS[3], ARGV[3])
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
redis.call("PUBLISH", ARGV[9], ARGV[10])
return "written"
`;
