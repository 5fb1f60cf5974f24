-- join_pair.lua: the invited partner becomes the pair's second member.
--
-- KEYS[1] pair hash   KEYS[2] devices hash
-- ARGV[1] joined, ms   ARGV[2] member id   ARGV[3] device id   ARGV[4] device record
-- ARGV[5] invite hash (the one being redeemed)
--
-- Returns 1, 0 when the pair is gone or already has two members, -1 when the
-- invite is no longer the pair's pending invite.

if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
if redis.call('HGET', KEYS[1], 'invite') ~= ARGV[5] then
  return -1
end
local members = 0
for _, name in ipairs(redis.call('HKEYS', KEYS[1])) do
  if string.sub(name, 1, 7) == 'member:' then members = members + 1 end
end
if members >= 2 then
  return 0
end
redis.call('HSET', KEYS[1], 'member:' .. ARGV[2], ARGV[1])
redis.call('HDEL', KEYS[1], 'invite')
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
return 1
