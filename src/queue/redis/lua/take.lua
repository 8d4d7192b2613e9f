-- Takes the next job (see take_next.lua).
-- KEYS: 1 wait, 2 active, 3 prioritized, 4 events, 5 delayed, 6 meta, 7 pc, 8 marker, 9 limiter
-- ARGV: 1 prefix, 2 token, 3 lock ms, 4 now ms, 5 worker name ("" = none)
return take_next({wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], events = KEYS[4],
  delayed = KEYS[5], meta = KEYS[6], pc = KEYS[7], marker = KEYS[8], limiter = KEYS[9]},
  ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5])
