-- load.lua: a pair's state hash, and the events logged after its state, in one step.
--
-- An append writes the whole state only once in a few events (append.lua);
-- the state hash's state_v says which version the stored state is at (absent:
-- at version). The events after it are read in the same step as the hash, so
-- the hub folds exactly the events the hash has not folded.
--
-- KEYS[1] state hash   KEYS[2] log stream
--
-- Returns {flat hash fields, log entries after state_v} ({{}, {}} for no pair).

local flat = redis.call('HGETALL', KEYS[1])
local version, state_v
for i = 1, #flat, 2 do
  if flat[i] == 'version' then
    version = flat[i + 1]
  elseif flat[i] == 'state_v' then
    state_v = flat[i + 1]
  end
end
if not state_v or state_v == version then
  return {flat, {}}
end
return {flat, redis.call('XRANGE', KEYS[2], (tonumber(state_v) + 1) .. '-0', '+')}
