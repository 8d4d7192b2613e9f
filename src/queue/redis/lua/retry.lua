-- Records a failed attempt that will be retried (BullMQ's moveToDelayed / retryJob): after
-- `delay` ms through delayed, or at once through wait/prioritized.
-- KEYS: 1 active, 2 delayed, 3 events, 4 stalled, 5 wait, 6 prioritized, 7 meta, 8 marker, 9 pc,
--       10 job
-- ARGV: 1 prefix, 2 id, 3 token, 4 now ms, 5 reason, 6 stack entry, 7 stack limit, 8 delay ms,
--       9 lifo ("1"/"0")
-- Returns 0, or the prelude's negative code (nothing changed).
local id = ARGV[2]
local code = release_active(KEYS[10], id, ARGV[3], KEYS[1], KEYS[4])
if code < 0 then
  return code
end
local maxlen = max_events(KEYS[7], false)
local now, delay = tonumber(ARGV[4]), tonumber(ARGV[8])
record_failure(KEYS[10], ARGV[5], ARGV[6], tonumber(ARGV[7]))
redis.call("HINCRBY", KEYS[10], "atm", 1)
local paused = is_paused(KEYS[7])
if delay > 0 then
  local due = now + delay
  redis.call("HSET", KEYS[10], "delay", int(delay))
  add_delayed(KEYS[2], KEYS[8], id, due, paused)
  emit(KEYS[3], maxlen, "event", "delayed", "jobId", id, "delay", int(due))
else
  local priority = tonumber(redis.call("HGET", KEYS[10], "priority") or "0") or 0
  enqueue(KEYS[5], KEYS[6], KEYS[9], id, priority, ARGV[9] == "1", false)
  if not paused then
    redis.call("ZADD", KEYS[8], 0, "0")
  end
  emit(KEYS[3], maxlen, "event", "waiting", "jobId", id, "prev", "active")
end
return 0
