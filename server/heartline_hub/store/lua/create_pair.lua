-- create_pair.lua: a new pair with its first member and device, empty state.
--
-- KEYS[1] pair hash   KEYS[2] devices hash   KEYS[3] state hash
-- ARGV[1] created, ms        ARGV[2] member id       ARGV[3] device id
-- ARGV[4] device record      ARGV[5] invite hash     ARGV[6] epoch
-- ARGV[7] empty state (msgpack)
--
-- Returns 1, or 0 when the pair id is taken (ids are random: retry with another).

if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], 'created', ARGV[1], 'member:' .. ARGV[2], ARGV[1], 'invite', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('HSET', KEYS[3], 'version', 0, 'epoch', ARGV[6], 'first_seq', 1, 'state', ARGV[7],
  'online_rev', 0)
return 1
