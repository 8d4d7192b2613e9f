-- Helpers shared by every script of svc's BullMQ-compatible queue. This text is prepended to each
-- script at compile time (see scripts.rs), so every script stays one atomic EVALSHA.
-- Conventions: ARGV[1] is always the queue's key prefix ("bull:email-queue:"); per-job keys are
-- built from it as BullMQ does. Numbers sent back to Redis go through `int` so that large values
-- (delayed scores reach 2^52) are never written in exponent notation.

local function int(n)
  return string.format("%d", n)
end

-- The stream's approximate length cap (meta `opts.maxLenEvents`, 10000 by default); `init`
-- stores the default when it is missing, as a producer does.
local function max_events(meta, init)
  local n = redis.call("HGET", meta, "opts.maxLenEvents")
  if not n then
    if init then
      redis.call("HSET", meta, "opts.maxLenEvents", 10000)
    end
    return 10000
  end
  return tonumber(n) or 10000
end

-- Appends one entry to the event stream, trimmed with MAXLEN ~.
local function emit(events, maxlen, ...)
  redis.call("XADD", events, "MAXLEN", "~", maxlen, "*", ...)
end

local function is_paused(meta)
  return redis.call("HEXISTS", meta, "paused") == 1
end

-- Deletes every key of a job (the hash and its satellites).
local function remove_job(prefix, id)
  local k = prefix .. id
  redis.call("DEL", k, k .. ":logs", k .. ":lock", k .. ":dependencies", k .. ":processed",
    k .. ":failed", k .. ":unsuccessful")
end

-- Removes `ids` from the zset `set` and deletes their jobs.
local function drop_finished(set, prefix, ids)
  if #ids == 0 then
    return
  end
  for _, id in ipairs(ids) do
    remove_job(prefix, id)
  end
  redis.call("ZREM", set, unpack(ids))
end

-- Applies a keep policy to a finished set (score = finishedOn): at most `count` newest jobs
-- (-1 = no count limit), none older than `age_ms` (-1 = no age limit); at most `limit`
-- deletions of each kind per call.
local function keep_finished(set, prefix, count, age_ms, now, limit)
  if age_ms >= 0 then
    drop_finished(set, prefix,
      redis.call("ZRANGEBYSCORE", set, "-inf", "(" .. int(now - age_ms), "LIMIT", 0, limit))
  end
  if count >= 0 then
    drop_finished(set, prefix, redis.call("ZREVRANGE", set, count, count + limit - 1))
  end
end

-- Makes a job ready: by priority into `prioritized` (score priority * 2^32 + counter), at the
-- front of `wait` for lifo or `front` (the end workers pop from), else at its back.
local function enqueue(wait, prioritized, pc, id, priority, lifo, front)
  if front then
    redis.call("RPUSH", wait, id)
  elseif priority > 0 then
    local seq = redis.call("INCR", pc) % 4294967296
    redis.call("ZADD", prioritized, int(priority * 4294967296 + seq), id)
  elseif lifo then
    redis.call("RPUSH", wait, id)
  else
    redis.call("LPUSH", wait, id)
  end
end

-- Schedules a job at `due` (ms): score due * 4096 + the next free sequence number in that
-- millisecond; the marker learns the earliest due time unless the queue is paused.
local function add_delayed(delayed, marker, id, due, paused)
  local base = due * 4096
  local last = redis.call("ZREVRANGEBYSCORE", delayed, int(base + 4095), int(base),
    "WITHSCORES", "LIMIT", 0, 1)
  local seq = 0
  if #last > 0 then
    seq = math.min(tonumber(last[2]) - base + 1, 4095)
  end
  redis.call("ZADD", delayed, int(base + seq), id)
  if not paused then
    local first = redis.call("ZRANGE", delayed, 0, 0, "WITHSCORES")
    redis.call("ZADD", marker, int(math.floor(tonumber(first[2]) / 4096)), "1")
  end
end

-- The earliest due time (ms) in `delayed`, or 0.
local function next_due(delayed)
  local first = redis.call("ZRANGE", delayed, 0, 0, "WITHSCORES")
  if #first == 0 then
    return 0
  end
  return math.floor(tonumber(first[2]) / 4096)
end

-- The prelude of every change to an active job: the job must exist (-1), its lock must exist
-- (-2) and be held by `token` (-6), and it must be in `active` (-3). Nothing is changed unless
-- all hold; then the job leaves `active`, its lock is deleted and it is no longer suspected of
-- stalling. Returns 0 on success.
local function release_active(jobkey, id, token, active, stalled)
  if redis.call("EXISTS", jobkey) == 0 then
    return -1
  end
  local held = redis.call("GET", jobkey .. ":lock")
  if not held then
    return -2
  end
  if held ~= token then
    return -6
  end
  if redis.call("LREM", active, -1, id) == 0 then
    return -3
  end
  redis.call("DEL", jobkey .. ":lock")
  redis.call("SREM", stalled, id)
  return 0
end

-- Stores a failure: `failedReason`, and `trace` appended to the JSON array `stacktrace`
-- (keeping the newest `limit` entries).
local function record_failure(jobkey, reason, trace, limit)
  local stack = {}
  local raw = redis.call("HGET", jobkey, "stacktrace")
  if raw then
    local ok, decoded = pcall(cjson.decode, raw)
    if ok and type(decoded) == "table" then
      stack = decoded
    end
  end
  table.insert(stack, trace)
  while #stack > limit do
    table.remove(stack, 1)
  end
  redis.call("HSET", jobkey, "failedReason", reason, "stacktrace", cjson.encode(stack))
end

-- Emits `drained` when nothing is left to run.
local function emit_if_drained(events, maxlen, wait, active, prioritized)
  if redis.call("LLEN", wait) == 0 and redis.call("LLEN", active) == 0
    and redis.call("ZCARD", prioritized) == 0 then
    emit(events, maxlen, "event", "drained")
  end
end

