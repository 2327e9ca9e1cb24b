/**
 * Publishes one message: next offset, history entry, live fan-out, all in one
 * step so a subscriber that reads history after SUBSCRIBE never misses one.
 * A channel whose meta is gone (never used, expired, or a cache that lost its
 * data), or whose epoch began before the caller's generation (the fleet came
 * back from bypass mode since, so this history lacks what was published
 * meanwhile), starts a new epoch and an empty history.
 * KEYS: meta hash, history stream
 * ARGV: data json, channel, ts, history size, history ttl s, meta ttl s, new epoch, live pub/sub channel, generation,
 *   PUBLISH or SPUBLISH (a Redis Cluster: the live channel is in the keys' slot, `{channel}`)
 * Returns the serial.
 */
export const PUBLISH_LUA = `
local meta = redis.call("HMGET", KEYS[1], "e", "g")
local epoch = meta[1]
if not epoch or (tonumber(meta[2]) or 0) < tonumber(ARGV[9]) then
  epoch = ARGV[7]
  redis.call("DEL", KEYS[2])
  redis.call("HSET", KEYS[1], "e", epoch, "o", 0, "g", ARGV[9])
end
local offset = redis.call("HINCRBY", KEYS[1], "o", 1)
redis.call("EXPIRE", KEYS[1], ARGV[6])
local serial = epoch .. ":" .. offset
local frame = '{"type":"message","channel":"' .. ARGV[2] .. '","serial":"' .. serial .. '","data":' .. ARGV[1] .. ',"ts":' .. ARGV[3] .. '}'
redis.call("XADD", KEYS[2], "MAXLEN", ARGV[4], offset .. "-0", "f", frame)
redis.call("EXPIRE", KEYS[2], ARGV[5])
redis.call(ARGV[10], ARGV[8], serial .. "\\n" .. frame)
return serial
`;

/**
 * Reads a channel's top and the messages after a subscriber's position; a
 * new epoch starts here as in PUBLISH_LUA.
 * KEYS: meta hash, history stream
 * ARGV: since epoch ("" for none), since offset, new epoch, meta ttl s, generation
 * Returns { epoch, top, recovered (0/1), offset1, frame1, offset2, frame2, … }.
 */
export const HISTORY_LUA = `
local meta = redis.call("HMGET", KEYS[1], "e", "o", "g")
local epoch = meta[1]
local top = 0
if not epoch or (tonumber(meta[3]) or 0) < tonumber(ARGV[5]) then
  epoch = ARGV[3]
  redis.call("DEL", KEYS[2])
  redis.call("HSET", KEYS[1], "e", epoch, "o", 0, "g", ARGV[5])
  redis.call("EXPIRE", KEYS[1], ARGV[4])
else
  top = tonumber(meta[2])
end
if ARGV[1] == "" or ARGV[1] ~= epoch then
  return { epoch, top, 0 }
end
local since = tonumber(ARGV[2])
if since > top then
  return { epoch, top, 0 }
end
if since == top then
  return { epoch, top, 1 }
end
local entries = redis.call("XRANGE", KEYS[2], (since + 1) .. "-0", "+", "COUNT", top - since)
if #entries == 0 or tonumber(string.match(entries[1][1], "^(%d+)")) ~= since + 1 then
  return { epoch, top, 0 }
end
local out = { epoch, top, 1 }
for _, entry in ipairs(entries) do
  out[#out + 1] = tonumber(string.match(entry[1], "^(%d+)"))
  out[#out + 1] = entry[2][2]
end
return out
`;

/**
 * Raises the cache's generation (see PUBLISH_LUA) to at least ARGV[1], so
 * that nodes started later use it too.
 * KEYS: generation key
 * Returns the generation now in force.
 */
export const GENERATION_LUA = `
local current = tonumber(redis.call("GET", KEYS[1]) or "0") or 0
local wanted = tonumber(ARGV[1])
if current < wanted then
  redis.call("SET", KEYS[1], ARGV[1])
  return ARGV[1]
end
return tostring(current)
`;
