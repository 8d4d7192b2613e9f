-- Fails an active job for good (BullMQ's moveToFinished, failed).
-- KEYS: 1 active, 2 failed, 3 events, 4 stalled, 5 wait, 6 prioritized, 7 meta, 8 job
-- ARGV: 1 prefix, 2 id, 3 token, 4 now ms, 5 reason, 6 stack entry, 7 stack limit,
--       8 keep count (-1 = all), 9 keep age ms (-1 = any), 10 trim limit, 11 attempts
-- Returns 0, or the prelude's negative code (nothing changed).
local prefix, id = ARGV[1], ARGV[2]
local code = release_active(KEYS[8], id, ARGV[3], KEYS[1], KEYS[4])
if code < 0 then
  return code
end
local maxlen = max_events(KEYS[7], false)
local now, count = tonumber(ARGV[4]), tonumber(ARGV[8])
record_failure(KEYS[8], ARGV[5], ARGV[6], tonumber(ARGV[7]))
local made = redis.call("HINCRBY", KEYS[8], "atm", 1)
if count == 0 then
  remove_job(prefix, id)
else
  redis.call("HSET", KEYS[8], "finishedOn", ARGV[4])
  redis.call("HDEL", KEYS[8], "defa")
  redis.call("ZADD", KEYS[2], ARGV[4], id)
  keep_finished(KEYS[2], prefix, count, tonumber(ARGV[9]), now, tonumber(ARGV[10]))
end
emit(KEYS[3], maxlen, "event", "failed", "jobId", id, "failedReason", ARGV[5], "prev", "active")
if made >= tonumber(ARGV[11]) then
  emit(KEYS[3], maxlen, "event", "retries-exhausted", "jobId", id, "attemptsMade", int(made))
end
emit_if_drained(KEYS[3], maxlen, KEYS[5], KEYS[1], KEYS[6])
return 0
