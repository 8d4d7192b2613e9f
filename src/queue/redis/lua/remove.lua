-- Deletes one job that no worker holds (BullMQ's removeJob): refused while it is active.
-- KEYS: 1 job, 2 active, 3 wait, 4 paused, 5 prioritized, 6 delayed, 7 completed, 8 failed,
--       9 stalled, 10 events, 11 meta
-- ARGV: 1 prefix, 2 id
-- Returns "done", "missing" (no such job) or "active" (nothing changed).
local prefix, id = ARGV[1], ARGV[2]
if redis.call("EXISTS", KEYS[1]) == 0 then
  return "missing"
end
if redis.call("EXISTS", KEYS[1] .. ":lock") == 1 or redis.call("LPOS", KEYS[2], id) then
  return "active"
end
local prev = "unknown"
for i, state in ipairs({"waiting", "paused"}) do
  if redis.call("LREM", KEYS[2 + i], 0, id) > 0 then
    prev = state
  end
end
for i, state in ipairs({"prioritized", "delayed", "completed", "failed"}) do
  if redis.call("ZREM", KEYS[4 + i], id) > 0 then
    prev = state
  end
end
redis.call("SREM", KEYS[9], id)
remove_job(prefix, id)
emit(KEYS[10], max_events(KEYS[11], false), "event", "removed", "jobId", id, "prev", prev)
return "done"
