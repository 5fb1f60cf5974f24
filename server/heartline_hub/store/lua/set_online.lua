-- set_online.lua: a device connects to a hub, or one of its connections leaves.
--
-- The online hash maps <member>:<device> to the connection that holds it; a
-- connection removes the entry only if it is still its own, so a device that
-- reconnected before its old connection was noticed stays online. Every
-- change bumps the state's online_rev, so a presence event decided from an
-- older view of who is online is refused by append.lua and decided again.
--
-- KEYS[1] online hash   KEYS[2] state hash
-- ARGV[1] field (<member>:<device>)   ARGV[2] connection id   ARGV[3] 'set' or 'clear'
--
-- Returns the online_rev after the change, or false when the pair is gone.

if redis.call('EXISTS', KEYS[2]) == 0 then
  return false
end
if ARGV[3] == 'set' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
elseif redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  return redis.call('HGET', KEYS[2], 'online_rev')
end
return redis.call('HINCRBY', KEYS[2], 'online_rev', 1)
