-- Moves an active job to completed (BullMQ's moveToFinished, completed).
-- KEYS: 1 active, 2 completed, 3 events, 4 stalled, 5 wait, 6 prioritized, 7 meta, 8 job
-- ARGV: 1 prefix, 2 id, 3 token, 4 now ms, 5 return value JSON, 6 keep count (-1 = all),
--       7 keep age ms (-1 = any), 8 trim limit
-- Returns 0, or the prelude's negative code (nothing changed).
local prefix, id = ARGV[1], ARGV[2]
local code = release_active(KEYS[8], id, ARGV[3], KEYS[1], KEYS[4])
if code < 0 then
  return code
end
local maxlen = max_events(KEYS[7], false)
local now, count = tonumber(ARGV[4]), tonumber(ARGV[6])
redis.call("HINCRBY", KEYS[8], "atm", 1)
if count == 0 then
  remove_job(prefix, id)
else
  redis.call("HSET", KEYS[8], "returnvalue", ARGV[5], "finishedOn", ARGV[4])
  redis.call("ZADD", KEYS[2], ARGV[4], id)
  keep_finished(KEYS[2], prefix, count, tonumber(ARGV[7]), now, tonumber(ARGV[8]))
end
emit(KEYS[3], maxlen, "event", "completed", "jobId", id, "returnvalue", ARGV[5], "prev", "active")
emit_if_drained(KEYS[3], maxlen, KEYS[5], KEYS[1], KEYS[6])
return 0
