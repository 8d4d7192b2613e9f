-- Takes up to `count` jobs (see take_next.lua). With numbering on, the n-th job taken (n from
-- `first`) is leased to `<token>:<n>`; with it off, the one job is leased to `token` itself.
-- KEYS: 1 wait, 2 active, 3 prioritized, 4 events, 5 delayed, 6 meta, 7 pc, 8 marker, 9 limiter
-- ARGV: 1 prefix, 2 token, 3 lock ms, 4 now ms, 5 worker name ("" = none), 6 count,
--       7 numbering ("1"/"0"), 8 first number
-- Returns one take_next reply per job taken, the last one {"none", due} when the queue ran dry.
local k = {wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], events = KEYS[4],
  delayed = KEYS[5], meta = KEYS[6], pc = KEYS[7], marker = KEYS[8], limiter = KEYS[9]}
local now, first = tonumber(ARGV[4]), tonumber(ARGV[8]) or 0
local meta = read_meta(KEYS[6])
local replies = {}
for n = 0, math.max(tonumber(ARGV[6]) or 1, 1) - 1 do
  local token = ARGV[2]
  if ARGV[7] == "1" then
    token = token .. ":" .. int(first + n)
  end
  local reply = take_next(k, ARGV[1], token, ARGV[3], now, ARGV[5], meta)
  replies[#replies + 1] = reply
  if reply[1] ~= "job" then
    break
  end
end
return replies
