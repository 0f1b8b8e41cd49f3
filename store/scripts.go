package store

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts behind every Redis operation of more than one command.
// Each runs atomically on the server and reads the server's clock, so that
// instances whose clocks differ still agree on windows and buckets. Times
// inside the scripts are Unix milliseconds. Redis 7 replicates the effects
// of a script, which is what lets a script call TIME before writing; the
// replicate_commands call does the same on older servers.

const luaNow = `
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// incrScript: KEYS[1] counter; ARGV delta, ttl ms (0: none). The expiry is
// set only when the increment created the key.
var incrScript = goredis.NewScript(`
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if ttl > 0 and redis.call('PTTL', KEYS[1]) == -1 then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return n
`)

// windowScript: KEYS[1] hash {w: window index, n: count}; ARGV window ms.
// Returns {count, ms until the window ends}.
var windowScript = goredis.NewScript(luaNow + `
local win = tonumber(ARGV[1])
local idx = string.format('%d', math.floor(now / win))
local reset = (math.floor(now / win) + 1) * win - now
local n
if redis.call('HGET', KEYS[1], 'w') == idx then
  n = redis.call('HINCRBY', KEYS[1], 'n', 1)
else
  redis.call('HSET', KEYS[1], 'w', idx, 'n', 1)
  redis.call('PEXPIRE', KEYS[1], reset)
  n = 1
end
return {n, reset}
`)

// bucketScript: KEYS[1] hash {x: level, t: ms of the last allowed
// request}; ARGV rate per second, burst. The arithmetic matches
// bucketStep. Returns {allowed 0|1, level as text}.
var bucketScript = goredis.NewScript(luaNow + `
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local v = redis.call('HMGET', KEYS[1], 'x', 't')
local excess = 0
if v[1] and v[2] then
  local elapsed = now - tonumber(v[2])
  if elapsed < 0 then elapsed = 0 end
  excess = tonumber(v[1]) - rate * elapsed / 1000 + 1
  if excess < 0 then excess = 0 end
end
if excess > burst then
  return {0, string.format('%.17g', excess)}
end
redis.call('HSET', KEYS[1], 'x', string.format('%.17g', excess), 't', string.format('%d', now))
redis.call('PEXPIRE', KEYS[1], math.min(math.ceil((excess + 1) / rate * 1000) + 1000, 31536000000))
return {1, string.format('%.17g', excess)}
`)

// acquireScript: KEYS[1] sorted set of lease ids scored by deadline; ARGV
// limit, ttl ms, lease id. Returns {allowed 0|1, leases held}.
var acquireScript = goredis.NewScript(luaNow + `
local limit = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local n = redis.call('ZCARD', KEYS[1])
if n >= limit then return {0, n} end
redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return {1, n + 1}
`)

// addEventScript: KEYS[1] sorted set of event ids scored by time; ARGV
// window ms, event id. Returns the events in the window.
var addEventScript = goredis.NewScript(luaNow + `
local win = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
redis.call('ZADD', KEYS[1], now, ARGV[2])
if redis.call('PTTL', KEYS[1]) < win then redis.call('PEXPIRE', KEYS[1], win) end
return redis.call('ZCARD', KEYS[1])
`)

// countEventsScript: KEYS[1] as for addEventScript; ARGV window ms.
var countEventsScript = goredis.NewScript(luaNow + `
return redis.call('ZCOUNT', KEYS[1], '(' .. (now - tonumber(ARGV[1])), '+inf')
`)

// setAddScript: KEYS[1] set; ARGV ttl ms (0: keep), members...
var setAddScript = goredis.NewScript(`
local n = redis.call('SADD', KEYS[1], unpack(ARGV, 2))
local ttl = tonumber(ARGV[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl) end
return n
`)

// Tables are two keys: KEYS[1] a hash of key → value and KEYS[2] a sorted
// set of the keys that expire, scored by deadline.

// tablePutScript: ARGV key, value, ttl ms (0: none).
var tablePutScript = goredis.NewScript(luaNow + `
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ttl = tonumber(ARGV[3])
if ttl > 0 then
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return 1
`)

// tableGetScript: ARGV key. Returns the value or nil.
var tableGetScript = goredis.NewScript(luaNow + `
local exp = redis.call('ZSCORE', KEYS[2], ARGV[1])
if exp and tonumber(exp) <= now then
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
return redis.call('HGET', KEYS[1], ARGV[1])
`)

// tableDeleteScript: ARGV key.
var tableDeleteScript = goredis.NewScript(`
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// tableAllScript drops the expired entries and returns the rest as a flat
// list of key, value.
var tableAllScript = goredis.NewScript(luaNow + `
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 1, #gone, 1000 do
  local part = {unpack(gone, i, math.min(i + 999, #gone))}
  redis.call('HDEL', KEYS[1], unpack(part))
  redis.call('ZREM', KEYS[2], unpack(part))
end
return redis.call('HGETALL', KEYS[1])
`)

// scripts lists every script, to load them once when the store opens.
var scripts = []*goredis.Script{
	incrScript, windowScript, bucketScript, acquireScript, addEventScript,
	countEventsScript, setAddScript, tablePutScript, tableGetScript,
	tableDeleteScript, tableAllScript,
}
