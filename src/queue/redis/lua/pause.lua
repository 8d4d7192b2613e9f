-- Pauses or resumes the queue for every worker (BullMQ 6's pause): the meta hash's `paused`
-- field, and the marker deleted so idle workers stay asleep; jobs stay in wait. Resuming moves
-- jobs an older BullMQ parked in the `paused` list back to wait and re-arms the marker.
-- KEYS: 1 paused, 2 wait, 3 meta, 4 prioritized, 5 events, 6 delayed, 7 marker
-- ARGV: 1 "paused" or "resumed"
-- Returns how many parked jobs are left in the `paused` list (resume again to move them).
local left = 0
if ARGV[1] == "paused" then
  redis.call("HSET", KEYS[3], "paused", 1)
  redis.call("DEL", KEYS[7])
else
  redis.call("HDEL", KEYS[3], "paused")
  local parked = redis.call("LRANGE", KEYS[1], 0, 6999)
  if #parked > 0 then
    redis.call("RPUSH", KEYS[2], unpack(parked))
    redis.call("LTRIM", KEYS[1], #parked, -1)
    left = redis.call("LLEN", KEYS[1])
  end
  if redis.call("LLEN", KEYS[2]) + redis.call("ZCARD", KEYS[4]) > 0 then
    redis.call("ZADD", KEYS[7], 0, "0")
  else
    local due = next_due(KEYS[6])
    if due > 0 then
      redis.call("ZADD", KEYS[7], int(due), "1")
    end
  end
end
emit(KEYS[5], max_events(KEYS[3], false), "event", ARGV[1])
return left
