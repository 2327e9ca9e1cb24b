/**
 * Publishes one message: next offset, history entry, live fan-out, all in one
 * step so a subscriber that reads history after SUBSCRIBE never misses one.
 * A channel whose meta is gone (never used, expired, or a cache that lost its
 * data) starts a new epoch and an empty history.
 * KEYS: meta hash, history stream
 * ARGV: data json, channel, ts, history size, history ttl s, meta ttl s, new epoch, live pub/sub channel
 * Returns the serial.
 */
export const PUBLISH_LUA = `
local epoch = redis.call("HGET", KEYS[1], "e")
if not epoch then
  epoch = ARGV[7]
  redis.call("DEL", KEYS[2])
  redis.call("HSET", KEYS[1], "e", epoch, "o", 0)
end
local offset = redis.call("HINCRBY", KEYS[1], "o", 1)
redis.call("EXPIRE", KEYS[1], ARGV[6])
local serial = epoch .. ":" .. offset
local frame = '{"type":"message","channel":"' .. ARGV[2] .. '","serial":"' .. serial .. '","data":' .. ARGV[1] .. ',"ts":' .. ARGV[3] .. '}'
redis.call("XADD", KEYS[2], "MAXLEN", ARGV[4], offset .. "-0", "f", frame)
redis.call("EXPIRE", KEYS[2], ARGV[5])
redis.call("PUBLISH", ARGV[8], serial .. "\\n" .. frame)
return serial
`;

/**
 * Reads a channel's top and the messages after a subscriber's position.
 * KEYS: meta hash, history stream
 * ARGV: since epoch ("" for none), since offset, new epoch, meta ttl s
 * Returns { epoch, top, recovered (0/1), offset1, frame1, offset2, frame2, … }.
 */
export const HISTORY_LUA = `
local epoch = redis.call("HGET", KEYS[1], "e")
local top = 0
if not epoch then
  epoch = ARGV[3]
  redis.call("DEL", KEYS[2])
  redis.call("HSET", KEYS[1], "e", epoch, "o", 0)
  redis.call("EXPIRE", KEYS[1], ARGV[4])
else
  top = tonumber(redis.call("HGET", KEYS[1], "o"))
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
