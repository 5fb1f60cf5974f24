-- lease.lua: take a lease, or renew it if this holder has it already; atomically,
-- so that two hubs never both believe they hold it.
--
-- KEYS[1] the lease key         KEYS[2] the hash holding what the lease is for
-- ARGV[1] the holder (a hub id)   ARGV[2] the lease's length in ms
-- ARGV[3] "take" or "release"     ARGV[4] the field of KEYS[2] that must exist
--
-- Returns 1 when the holder has the lease (take) or gave it up (release), else 0.
-- A lease is not taken for what is gone (a webhook removed, its pair erased):
-- a hub still delivering then would create the lease key again after the erase.

local holder = redis.call('GET', KEYS[1])
if ARGV[3] == 'release' then
  if holder == ARGV[1] then
    redis.call('DEL', KEYS[1])
    return 1
  end
  return 0
end
if redis.call('HEXISTS', KEYS[2], ARGV[4]) == 0 then
  return 0
end
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
