-- Deletes the jobs of one state created (or finished) before a cutoff (BullMQ's Queue.clean),
-- one window of the state's list or zset per run so that Redis is never blocked for long.
-- KEYS: 1 the state's list or zset, 2 events, 3 meta
-- ARGV: 1 prefix, 2 cutoff ms, 3 "list" or "zset", 4 the age field (finishedOn or timestamp),
--       5 window start, 6 window size
-- Returns {deleted, examined}; the caller moves its window by examined - deleted.
local prefix, cutoff = ARGV[1], tonumber(ARGV[2])
local first, size = tonumber(ARGV[5]), tonumber(ARGV[6])
local list = ARGV[3] == "list"
local ids
if list then
  ids = redis.call("LRANGE", KEYS[1], first, first + size - 1)
else
  ids = redis.call("ZRANGE", KEYS[1], first, first + size - 1)
end
local deleted = 0
for _, id in ipairs(ids) do
  local jobkey = prefix .. id
  local at = tonumber(redis.call("HGET", jobkey, ARGV[4]) or "")
  -- An id whose hash is gone is a leftover: it goes too.
  if at == nil or at < cutoff then
    if list then
      redis.call("LREM", KEYS[1], 0, id)
    else
      redis.call("ZREM", KEYS[1], id)
    end
    remove_job(prefix, id)
    deleted = deleted + 1
  end
end
if deleted > 0 then
  emit(KEYS[2], max_events(KEYS[3], false), "event", "cleaned", "count", deleted)
end
return {deleted, #ids}
