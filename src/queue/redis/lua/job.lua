-- Reads one job and the state it is in.
-- KEYS: 1 job, 2 completed, 3 failed, 4 delayed, 5 prioritized, 6 active, 7 wait, 8 paused
-- ARGV: 1 id
-- Returns {} when there is no such job, else {state, field, value, ...}.
local fields = redis.call("HGETALL", KEYS[1])
if #fields == 0 then
  return {}
end
local id = ARGV[1]
local state = "unknown"
if redis.call("ZSCORE", KEYS[2], id) then
  state = "completed"
elseif redis.call("ZSCORE", KEYS[3], id) then
  state = "failed"
elseif redis.call("ZSCORE", KEYS[4], id) then
  state = "delayed"
elseif redis.call("ZSCORE", KEYS[5], id) then
  state = "prioritized"
elseif redis.call("LPOS", KEYS[6], id) then
  state = "active"
elseif redis.call("LPOS", KEYS[7], id) or redis.call("LPOS", KEYS[8], id) then
  state = "waiting"
end
local out = {state}
for i = 1, #fields do
  out[#out + 1] = fields[i]
end
return out
