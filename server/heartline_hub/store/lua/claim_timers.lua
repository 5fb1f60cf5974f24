-- claim_timers.lua: reserve due timers of one shard for this hub.
--
-- A claimed timer stays in the shard with its score pushed to the end of the
-- lease: if the hub dies before firing it, another hub claims it when the
-- lease runs out. Firing is idempotent on the pair's state (a timer that
-- already fired, or was cancelled by im_back, stores nothing), so a timer
-- claimed twice still fires once.
--
-- KEYS[1] timer shard zset
-- ARGV[1] now, ms   ARGV[2] lease end, ms   ARGV[3] at most this many
--
-- Returns {claimed members, when the shard's next timer is due (ms), or -1
-- for an empty shard}: a hub sleeps until then rather than polling.

local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[2], member)
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] == nil then
  return {due, -1}
end
return {due, tonumber(first[2])}
