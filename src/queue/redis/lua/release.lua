-- Gives an unfinished active job back (a draining worker): to the front of wait, without
-- counting an attempt.
-- KEYS: 1 active, 2 wait, 3 events, 4 stalled, 5 meta, 6 marker, 7 job
-- ARGV: 1 prefix, 2 id, 3 token
-- Returns 0, or the prelude's negative code (nothing changed).
local id = ARGV[2]
local code = release_active(KEYS[7], id, ARGV[3], KEYS[1], KEYS[4])
if code < 0 then
  return code
end
redis.call("RPUSH", KEYS[2], id)
if not is_paused(KEYS[5]) then
  redis.call("ZADD", KEYS[6], 0, "0")
end
emit(KEYS[3], max_events(KEYS[5], false), "event", "waiting", "jobId", id, "prev", "active")
return 0
