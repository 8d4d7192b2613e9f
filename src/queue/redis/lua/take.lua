-- Takes the next job (BullMQ's moveToActive): promotes due delayed jobs, respects a paused
-- queue, a global concurrency (meta `concurrency`) and a global rate limit (meta `max` per
-- `duration` ms), then moves one job from wait (FIFO end) or prioritized (lowest score) to
-- active under a lock held by the token.
-- KEYS: 1 wait, 2 active, 3 prioritized, 4 events, 5 delayed, 6 meta, 7 pc, 8 marker, 9 limiter
-- ARGV: 1 prefix, 2 token, 3 lock ms, 4 now ms, 5 worker name ("" = none)
-- Returns {"job", id, field, value, ...} or {"none", next due ms or "0"}.
local prefix, now = ARGV[1], tonumber(ARGV[4])
local maxlen = max_events(KEYS[6], false)
local paused = is_paused(KEYS[6])

local due = redis.call("ZRANGEBYSCORE", KEYS[5], 0, int((now + 1) * 4096 - 1), "LIMIT", 0, 1000)
if #due > 0 then
  redis.call("ZREM", KEYS[5], unpack(due))
  for _, id in ipairs(due) do
    local jobkey = prefix .. id
    if redis.call("EXISTS", jobkey) == 1 then
      local priority = tonumber(redis.call("HGET", jobkey, "priority") or "0") or 0
      enqueue(KEYS[1], KEYS[3], KEYS[7], id, priority, false, false)
      redis.call("HSET", jobkey, "delay", 0)
      emit(KEYS[4], maxlen, "event", "waiting", "jobId", id, "prev", "delayed")
    end
  end
  if not paused then
    redis.call("ZADD", KEYS[8], 0, "0")
  end
end

local function none(at)
  return {"none", int(at)}
end

if paused then
  return none(next_due(KEYS[5]))
end
local limits = redis.call("HMGET", KEYS[6], "concurrency", "max", "duration")
if limits[1] and redis.call("LLEN", KEYS[2]) >= tonumber(limits[1]) then
  return none(next_due(KEYS[5]))
end
local max_rate = tonumber(limits[2] or "")
if max_rate and max_rate > 0 then
  local used = tonumber(redis.call("GET", KEYS[9]) or "0") or 0
  if used >= max_rate then
    local ttl = redis.call("PTTL", KEYS[9])
    if ttl > 0 then
      return none(now + ttl)
    end
  end
end

-- A listed id whose hash was removed is dropped; a few tries find a real job.
for _ = 1, 10 do
  local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[2])
  if not id then
    local popped = redis.call("ZPOPMIN", KEYS[3])
    if #popped == 0 then
      return none(next_due(KEYS[5]))
    end
    id = popped[1]
    redis.call("LPUSH", KEYS[2], id)
    if redis.call("ZCARD", KEYS[3]) == 0 then
      redis.call("DEL", KEYS[7])
    end
  end
  local jobkey = prefix .. id
  if redis.call("EXISTS", jobkey) == 1 then
    redis.call("SET", jobkey .. ":lock", ARGV[2], "PX", ARGV[3])
    if ARGV[5] ~= "" then
      redis.call("HSET", jobkey, "processedOn", ARGV[4], "pb", ARGV[5])
    else
      redis.call("HSET", jobkey, "processedOn", ARGV[4])
    end
    redis.call("HINCRBY", jobkey, "ats", 1)
    emit(KEYS[4], maxlen, "event", "active", "jobId", id, "prev", "waiting")
    if max_rate and max_rate > 0 then
      if redis.call("INCR", KEYS[9]) == 1 then
        redis.call("PEXPIRE", KEYS[9], tonumber(limits[3] or "1000") or 1000)
      end
    end
    -- Re-arm the marker while work remains, so other idle workers wake too.
    if redis.call("LLEN", KEYS[1]) > 0 or redis.call("ZCARD", KEYS[3]) > 0 then
      redis.call("ZADD", KEYS[8], 0, "0")
    end
    local out = {"job", id}
    local fields = redis.call("HGETALL", jobkey)
    for i = 1, #fields do
      out[#out + 1] = fields[i]
    end
    return out
  end
  redis.call("LREM", KEYS[2], 1, id)
end
return none(next_due(KEYS[5]))
