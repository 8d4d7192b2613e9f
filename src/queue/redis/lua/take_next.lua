-- Takes the next job (BullMQ's moveToActive), shared by take.lua and complete.lua (the latter
-- fetches the next job in the same round trip, as Node's moveToFinished does): promotes due
-- delayed jobs, respects a paused queue, a global concurrency (meta `concurrency`) and a global
-- rate limit (meta `max` per `duration` ms), then moves one job from wait (FIFO end) or
-- prioritized (lowest score) to active under a lock held by the token.
-- k: the keys {wait, active, prioritized, events, delayed, meta, pc, marker, limiter}; meta: the
-- queue's settings as read_meta returns them (read here when nil).
-- Returns {"job", id, field, value, ...} or {"none", next due ms or "0"}.
local function read_meta(meta_key)
  return redis.call("HMGET", meta_key, "paused", "concurrency", "max", "duration",
    "opts.maxLenEvents")
end

local function take_next(k, prefix, token, lock_ms, now, worker, meta)
  -- One read of the queue's settings: paused, concurrency, rate limit, stream length.
  meta = meta or read_meta(k.meta)
  local paused = meta[1] ~= false
  local maxlen = tonumber(meta[5] or "") or 10000

  local due = redis.call("ZRANGEBYSCORE", k.delayed, 0, int((now + 1) * 4096 - 1), "LIMIT", 0, 1000)
  if #due > 0 then
    redis.call("ZREM", k.delayed, unpack(due))
    for _, id in ipairs(due) do
      local jobkey = prefix .. id
      if redis.call("EXISTS", jobkey) == 1 then
        local priority = tonumber(redis.call("HGET", jobkey, "priority") or "0") or 0
        enqueue(k.wait, k.prioritized, k.pc, id, priority, false, false)
        redis.call("HSET", jobkey, "delay", 0)
        emit(k.events, maxlen, "event", "waiting", "jobId", id, "prev", "delayed")
      end
    end
    if not paused then
      redis.call("ZADD", k.marker, 0, "0")
    end
  end

  local function none(at)
    return {"none", int(at)}
  end

  if paused then
    return none(next_due(k.delayed))
  end
  if meta[2] and redis.call("LLEN", k.active) >= tonumber(meta[2]) then
    return none(next_due(k.delayed))
  end
  local max_rate = tonumber(meta[3] or "")
  if max_rate and max_rate > 0 then
    local used = tonumber(redis.call("GET", k.limiter) or "0") or 0
    if used >= max_rate then
      local ttl = redis.call("PTTL", k.limiter)
      if ttl > 0 then
        return none(now + ttl)
      end
    end
  end

  -- A listed id whose hash was removed is dropped; a few tries find a real job.
  for _ = 1, 10 do
    local id = redis.call("RPOPLPUSH", k.wait, k.active)
    if not id then
      local popped = redis.call("ZPOPMIN", k.prioritized)
      if #popped == 0 then
        return none(next_due(k.delayed))
      end
      id = popped[1]
      redis.call("LPUSH", k.active, id)
      if redis.call("ZCARD", k.prioritized) == 0 then
        redis.call("DEL", k.pc)
      end
    end
    local jobkey = prefix .. id
    local fields = redis.call("HGETALL", jobkey)
    if #fields > 0 then
      redis.call("SET", jobkey .. ":lock", token, "PX", lock_ms)
      local started = redis.call("HINCRBY", jobkey, "ats", 1)
      if worker ~= "" then
        redis.call("HSET", jobkey, "processedOn", int(now), "pb", worker)
      else
        redis.call("HSET", jobkey, "processedOn", int(now))
      end
      emit(k.events, maxlen, "event", "active", "jobId", id, "prev", "waiting")
      if max_rate and max_rate > 0 then
        if redis.call("INCR", k.limiter) == 1 then
          redis.call("PEXPIRE", k.limiter, tonumber(meta[4] or "1000") or 1000)
        end
      end
      -- Re-arm the marker while work remains, so other idle workers wake too.
      if redis.call("LLEN", k.wait) > 0 or redis.call("ZCARD", k.prioritized) > 0 then
        redis.call("ZADD", k.marker, 0, "0")
      end
      -- The hash as it is now: the fields just written replace the values read before.
      local out = {"job", id, "ats", int(started), "processedOn", int(now)}
      if worker ~= "" then
        out[#out + 1] = "pb"
        out[#out + 1] = worker
      end
      for i = 1, #fields, 2 do
        local f = fields[i]
        if f ~= "ats" and f ~= "processedOn" and f ~= "pb" then
          out[#out + 1] = f
          out[#out + 1] = fields[i + 1]
        end
      end
      return out
    end
    redis.call("LREM", k.active, 1, id)
  end
  return none(next_due(k.delayed))
end
