-- Counts one request of a client in the current fixed window, windows aligned to the epoch on
-- Redis' clock (one clock for every API instance, whatever their hosts' clocks say).
-- KEYS: 1 the client's counter (svc:ratelimit:<window ms>:<client>)
-- ARGV: 1 the window in ms
-- Returns {hits in this window, ms until it ends}. The counter expires when its window ends, so
-- the next request starts the next window at 1 and no key outlives its window.
local hits = redis.call("INCR", KEYS[1])
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then
  -- A new counter (or one that lost its expiry): it lives until the window's end.
  local time = redis.call("TIME")
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local window = tonumber(ARGV[1])
  ttl = window - (now % window)
  redis.call("PEXPIRE", KEYS[1], ttl)
end
return {hits, ttl}
