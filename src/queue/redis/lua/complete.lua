-- Moves an active job to completed (BullMQ's moveToFinished, completed) and, when a next token
-- is given, takes the next job for the same worker slot in the same run (Node's "fetch next").
-- KEYS: 1 active, 2 completed, 3 events, 4 stalled, 5 wait, 6 prioritized, 7 meta, 8 job,
--       9 delayed, 10 pc, 11 marker, 12 limiter
-- ARGV: 1 prefix, 2 id, 3 token, 4 now ms, 5 return value JSON, 6 keep count (-1 = all),
--       7 keep age ms (-1 = any), 8 trim limit, 9 next token ("" = take nothing), 10 lock ms,
--       11 worker name
-- Returns {code}: 0, or the prelude's negative code (nothing changed, nothing taken); with a
-- next token and code 0: {0, take_next's reply...}.
local prefix, id = ARGV[1], ARGV[2]
local code = release_active(KEYS[8], id, ARGV[3], KEYS[1], KEYS[4])
if code < 0 then
  return {code}
end
local meta = read_meta(KEYS[7])
local maxlen = tonumber(meta[5] or "") or 10000
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
if ARGV[9] == "" then
  emit_if_drained(KEYS[3], maxlen, KEYS[5], KEYS[1], KEYS[6])
  return {0}
end
local next = take_next({wait = KEYS[5], active = KEYS[1], prioritized = KEYS[6], events = KEYS[3],
  delayed = KEYS[9], meta = KEYS[7], pc = KEYS[10], marker = KEYS[11], limiter = KEYS[12]},
  prefix, ARGV[9], ARGV[10], now, ARGV[11], meta)
-- A job was taken: the queue is not drained (that check is for the "none" answer only).
if next[1] ~= "job" then
  emit_if_drained(KEYS[3], maxlen, KEYS[5], KEYS[1], KEYS[6])
end
local out = {0}
for i = 1, #next do
  out[#out + 1] = next[i]
end
return out
