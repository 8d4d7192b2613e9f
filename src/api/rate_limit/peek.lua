-- Reads a client's counter in the current fixed window without counting (see hit.lua).
-- KEYS: 1 the client's counter (svc:ratelimit:<window ms>:<client>)
-- ARGV: 1 the window in ms
-- Returns {hits in this window so far, ms until it ends}.
local hits = tonumber(redis.call("GET", KEYS[1]) or "0")
local ttl = redis.call("PTTL", KEYS[1])
if ttl < 0 then
  local time = redis.call("TIME")
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local window = tonumber(ARGV[1])
  ttl = window - (now % window)
end
return {hits, ttl}
