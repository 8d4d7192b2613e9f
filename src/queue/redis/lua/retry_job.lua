-- Sends one failed or completed job back to waiting with fresh attempts (BullMQ's Job.retry).
-- KEYS: 1 job, 2 failed, 3 completed, 4 wait, 5 prioritized, 6 pc, 7 events, 8 meta, 9 marker
-- ARGV: 1 prefix, 2 id
-- Returns "done", "missing" (no such job) or "refused" (in another state; nothing changed).
local id = ARGV[2]
if redis.call("EXISTS", KEYS[1]) == 0 then
  return "missing"
end
local from
if redis.call("ZREM", KEYS[2], id) == 1 then
  from = "failed"
elseif redis.call("ZREM", KEYS[3], id) == 1 then
  from = "completed"
else
  return "refused"
end
local maxlen = max_events(KEYS[8], false)
redis.call("HSET", KEYS[1], "atm", 0, "stc", 0)
redis.call("HDEL", KEYS[1], "finishedOn", "returnvalue", "defa")
local priority = tonumber(redis.call("HGET", KEYS[1], "priority") or "0") or 0
enqueue(KEYS[4], KEYS[5], KEYS[6], id, priority, false, false)
emit(KEYS[7], maxlen, "event", "waiting", "jobId", id, "prev", from)
if not is_paused(KEYS[8]) then
  redis.call("ZADD", KEYS[9], 0, "0")
end
return "done"
