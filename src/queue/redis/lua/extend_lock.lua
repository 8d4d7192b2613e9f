-- Renews a job's lock when `token` still holds it, and clears its stall suspicion.
-- KEYS: 1 lock, 2 stalled
-- ARGV: 1 token, 2 lock ms, 3 job id
-- Returns 1 when renewed, 0 when the lock is gone or held by another token.
if redis.call("GET", KEYS[1]) == ARGV[1] then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  redis.call("SREM", KEYS[2], ARGV[3])
  return 1
end
return 0
