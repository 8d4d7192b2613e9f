-- Adds a job (BullMQ's add): idempotent for a custom id, delayed, prioritized or waiting.
-- KEYS: 1 meta, 2 id counter, 3 events, 4 wait, 5 prioritized, 6 delayed, 7 marker, 8 pc
-- ARGV: 1 prefix, 2 custom id ("" = generated), 3 name, 4 data JSON, 5 opts JSON, 6 now ms,
--       7 delay ms, 8 priority, 9 lifo ("1"/"0")
-- Returns {id, "1"} for a new job, {id, "0"} when a job with that id exists.
local maxlen = max_events(KEYS[1], true)
local counter = redis.call("INCR", KEYS[2])
local id = ARGV[2]
if id == "" then
  id = int(counter)
end
local jobkey = ARGV[1] .. id
if redis.call("EXISTS", jobkey) == 1 then
  emit(KEYS[3], maxlen, "event", "duplicated", "jobId", id)
  return {id, "0"}
end
local now = tonumber(ARGV[6])
local delay = tonumber(ARGV[7])
local priority = tonumber(ARGV[8])
redis.call("HSET", jobkey, "name", ARGV[3], "data", ARGV[4], "opts", ARGV[5], "timestamp", ARGV[6],
  "delay", ARGV[7], "priority", ARGV[8])
emit(KEYS[3], maxlen, "event", "added", "jobId", id, "name", ARGV[3])
local paused = is_paused(KEYS[1])
if delay > 0 then
  local due = now + delay
  add_delayed(KEYS[6], KEYS[7], id, due, paused)
  emit(KEYS[3], maxlen, "event", "delayed", "jobId", id, "delay", int(due))
else
  enqueue(KEYS[4], KEYS[5], KEYS[8], id, priority, ARGV[9] == "1", false)
  if not paused then
    redis.call("ZADD", KEYS[7], 0, "0")
  end
  emit(KEYS[3], maxlen, "event", "waiting", "jobId", id)
end
return {id, "1"}
