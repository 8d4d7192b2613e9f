-- The stalled-jobs check (BullMQ's moveStalledJobsToWait), at most once per interval across all
-- workers (the `stalled-check` guard). Phase 2: every id suspected last time whose lock is gone
-- and that is still active goes back to the front of wait with `stc` + 1; past `max stalled` it
-- also gets `defa`, so the next worker to take it fails it without running it. Phase 1: every
-- active id becomes a suspect for the next round (renewing a lock clears the suspicion).
-- KEYS: 1 stalled, 2 wait, 3 active, 4 stalled-check, 5 events, 6 marker, 7 meta
-- ARGV: 1 prefix, 2 max stalled, 3 now ms, 4 interval ms
-- Returns {recovered ids, ids that will fail}, or {} when the guard stopped the check.
if redis.call("EXISTS", KEYS[4]) == 1 then
  return {}
end
redis.call("SET", KEYS[4], ARGV[3], "PX", ARGV[4])
local prefix, max_stalled = ARGV[1], tonumber(ARGV[2])
local maxlen = max_events(KEYS[7], false)
local paused = is_paused(KEYS[7])
local recovered, failing = {}, {}
local suspects = redis.call("SMEMBERS", KEYS[1])
if #suspects > 0 then
  redis.call("DEL", KEYS[1])
  for _, id in ipairs(suspects) do
    local jobkey = prefix .. id
    if redis.call("EXISTS", jobkey .. ":lock") == 0 and redis.call("LREM", KEYS[3], 1, id) > 0 then
      if redis.call("EXISTS", jobkey) == 1 then
        local stc = redis.call("HINCRBY", jobkey, "stc", 1)
        if stc > max_stalled then
          redis.call("HSET", jobkey, "defa", "job stalled more than allowable limit")
          failing[#failing + 1] = id
        else
          recovered[#recovered + 1] = id
        end
        redis.call("RPUSH", KEYS[2], id)
        if not paused then
          redis.call("ZADD", KEYS[6], 0, "0")
        end
        emit(KEYS[5], maxlen, "event", "waiting", "jobId", id, "prev", "active")
        emit(KEYS[5], maxlen, "event", "stalled", "jobId", id)
      end
    end
  end
end
local active = redis.call("LRANGE", KEYS[3], 0, -1)
for i = 1, #active, 1000 do
  redis.call("SADD", KEYS[1], unpack(active, i, math.min(i + 999, #active)))
end
return {recovered, failing}
