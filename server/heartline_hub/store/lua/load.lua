-- load.lua: a pair's state hash, and the events logged after its stored state, in one step.
--
-- An append writes the whole state only once in a few events, as 'base' at
-- version 'base_v' (append.lua); the events after it are read in the same
-- step as the hash, so the hub folds exactly the events the hash has not.
-- A pair with a 'state' field (just paired, or last written by a hub of the
-- earlier layout) has its whole state at 'version' there: nothing to fold.
--
-- KEYS[1] state hash   KEYS[2] log stream
--
-- Returns {flat hash fields, log entries to fold} ({{}, {}} for no pair).

local flat = redis.call('HGETALL', KEYS[1])
local version, base_v, whole
for i = 1, #flat, 2 do
  local name = flat[i]
  if name == 'version' then
    version = flat[i + 1]
  elseif name == 'base_v' then
    base_v = flat[i + 1]
  elseif name == 'state' then
    whole = true
  end
end
if whole or not base_v or base_v == version then
  return {flat, {}}
end
return {flat, redis.call('XRANGE', KEYS[2], (tonumber(base_v) + 1) .. '-0', '+')}
