-- Moves up to `batch` failed jobs back to waiting with fresh attempts (oldest failures first).
-- KEYS: 1 failed, 2 wait, 3 prioritized, 4 pc, 5 events, 6 meta, 7 marker
-- ARGV: 1 prefix, 2 batch
-- Returns how many jobs were moved.
local prefix = ARGV[1]
local ids = redis.call("ZRANGE", KEYS[1], 0, tonumber(ARGV[2]) - 1)
if #ids == 0 then
  return 0
end
local maxlen = max_events(KEYS[6], false)
redis.call("ZREM", KEYS[1], unpack(ids))
for _, id in ipairs(ids) do
  local jobkey = prefix .. id
  if redis.call("EXISTS", jobkey) == 1 then
    redis.call("HSET", jobkey, "atm", 0, "stc", 0)
    redis.call("HDEL", jobkey, "finishedOn", "returnvalue", "defa")
    local priority = tonumber(redis.call("HGET", jobkey, "priority") or "0") or 0
    enqueue(KEYS[2], KEYS[3], KEYS[4], id, priority, false, false)
    emit(KEYS[5], maxlen, "event", "waiting", "jobId", id, "prev", "failed")
  end
end
if not is_paused(KEYS[6]) then
  redis.call("ZADD", KEYS[7], 0, "0")
end
return #ids
