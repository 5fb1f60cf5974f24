-- set_online.lua: a connection of a device opens on a hub, or ends.
--
-- The online hash has one field per connection, <member>:<device>:<connection>,
-- whose value is the hub that holds it; a member is online while any field of
-- theirs remains. Every change bumps the state's online_rev, so a presence
-- event decided from an older view of who is online is refused by append.lua
-- and decided again.
--
-- KEYS[1] online hash   KEYS[2] state hash
-- ARGV[1] field   ARGV[2] hub id   ARGV[3] 'set' or 'clear'   ARGV[4] the field's member
--
-- Returns, read in the same step as the change, {online_rev, the pair's
-- version, 1 if the member still has a connection else 0} (the hub decides
-- the member's presence from them), or false when the pair is gone.

if redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
local rev
if ARGV[3] == 'set' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  rev = redis.call('HINCRBY', KEYS[2], 'online_rev', 1)
elseif redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then
  rev = redis.call('HINCRBY', KEYS[2], 'online_rev', 1)
else
  rev = tonumber(redis.call('HGET', KEYS[2], 'online_rev') or '0')
end

local prefix = ARGV[4] .. ':'
local online = 0
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(name, 1, #prefix) == prefix then
    online = 1
    break
  end
end
return {rev, tonumber(redis.call('HGET', KEYS[2], 'version') or '0'), online}
