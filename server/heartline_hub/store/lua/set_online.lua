-- set_online.lua: a connection of a device opens on a hub, or ends.
--
-- The online hash has one field per connection, <member>:<device>:<connection>,
-- whose value is the hub that holds it; a member is online while any field of
-- theirs remains. Every change bumps the state's online_rev, so a presence
-- event decided from an older view of who is online is refused by append.lua
-- and decided again.
--
-- KEYS[1] online hash   KEYS[2] state hash
-- ARGV[1] field   ARGV[2] hub id   ARGV[3] 'set' or 'clear'
--
-- Returns the online_rev after the change, or false when the pair is gone.

if redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
if ARGV[3] == 'set' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
elseif redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then
  return redis.call('HGET', KEYS[2], 'online_rev')
end
return redis.call('HINCRBY', KEYS[2], 'online_rev', 1)
