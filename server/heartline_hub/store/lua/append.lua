-- append.lua: store one event of a pair, atomically (SPEC.md 7.2 and 7.5).
--
-- The hub folds the event into the state it read (optimistic concurrency);
-- this script stores both only if nobody stored anything since, so every
-- event gets the next sequence number and the state stays the fold of the
-- log. In one step it: answers a repeated client message id with the
-- original record, checks the expected version, appends to the log, writes
-- the new state when the hub sends it (once in a few events, as 'base' at
-- 'base_v'; a load folds the events logged after it), records the
-- idempotency key, trims expired idempotency records and history past
-- retention (never an event after base_v), and publishes for live fan-out
-- unless the only listener is the calling hub itself (it delivers its own
-- events to its sessions at once, and would only drop the echo).
--
-- KEYS[1] state hash (its head_t: the time of the log's oldest entry). Its
--         'state' is the whole state at 'version', as pairing and hubs of the
--         earlier layout write it; the first append here moves it to 'base'
--         and removes it, so that a hub of the earlier layout, which would
--         read a 'state' behind 'version' as current, fails to load the pair
--         instead (during a rolling upgrade) and never stores on a stale fold.
-- KEYS[2] log stream
-- KEYS[3] idem hash       KEYS[4] idem expiry zset
-- ARGV[1] expected version           ARGV[2] expected online_rev ('' = any)
-- ARGV[3] event frame (msgpack)      ARGV[4] event time, ms
-- ARGV[5] new state (msgpack, '' = keep)  ARGV[6] idempotency field ('' = none)
-- ARGV[7] idempotency record: a 32-character digest, then '#' and the event's
--         seq (its frame is read from the log when asked again) or the frame
--         itself (when history may be trimmed before the record expires)
--                                    ARGV[8] idempotency expiry, ms
-- ARGV[9] channel                    ARGV[10] publish command (PUBLISH, SPUBLISH or '')
-- ARGV[11] retention cutoff, ms      ARGV[12] now, ms
-- ARGV[13] '1' when the calling hub listens on the channel itself, else '0'
-- ARGV[14..] extra state hash fields as name, value pairs
--
-- Returns {'ok', seq, published (1 or 0)} | {'dup', digest .. frame} | {'stale'} | {'gone'}

local state_key, log_key, idem_key, idem_exp_key = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local idem_field = ARGV[6]
local now = tonumber(ARGV[12])

-- A record naming its event by seq answers with the event's frame from the
-- log; one whose event was trimmed is past its time, and the id is free again.
local function original(record)
  if string.sub(record, 33, 33) ~= '#' then
    return record
  end
  local id = string.sub(record, 34) .. '-0'
  local entry = redis.call('XRANGE', log_key, id, id)[1]
  if not entry then
    return nil
  end
  local fields = entry[2]
  for j = 1, #fields, 2 do
    if fields[j] == 'e' then return string.sub(record, 1, 32) .. fields[j + 1] end
  end
  return nil
end

if idem_field ~= '' then
  local prior = redis.call('HGET', idem_key, idem_field)
  local answer = prior and original(prior)
  if answer then
    return {'dup', answer}
  end
end

local current = redis.call('HMGET', state_key, 'version', 'online_rev', 'head_t', 'base_v', 'state')
if not current[1] then
  return {'gone'}
end
local online_rev = current[2] or '0'
if current[1] ~= ARGV[1] or (ARGV[2] ~= '' and online_rev ~= ARGV[2]) then
  return {'stale'}
end

local seq = tonumber(ARGV[1]) + 1
redis.call('XADD', log_key, seq .. '-0', 'e', ARGV[3], 't', ARGV[4])
local base_v = tonumber(current[4] or 0)
local changed = {'version', seq}
local function change(name, value)
  changed[#changed + 1] = name
  changed[#changed + 1] = value
end
if ARGV[5] ~= '' then
  base_v = seq
  change('base', ARGV[5])
  change('base_v', seq)
elseif current[5] then
  base_v = tonumber(current[1])
  change('base', current[5])
  change('base_v', base_v)
end
if current[5] then
  redis.call('HDEL', state_key, 'state')
end
for i = 14, #ARGV, 2 do
  if ARGV[i + 1] == '' then
    redis.call('HDEL', state_key, ARGV[i])
  else
    change(ARGV[i], ARGV[i + 1])
  end
end
redis.call('HSET', state_key, unpack(changed))

if idem_field ~= '' then
  redis.call('HSET', idem_key, idem_field, ARGV[7])
  redis.call('ZADD', idem_exp_key, ARGV[8], idem_field)
end
local expired = redis.call('ZRANGEBYSCORE', idem_exp_key, '-inf', now, 'LIMIT', 0, 16)
if #expired > 0 then
  redis.call('HDEL', idem_key, unpack(expired))
  redis.call('ZREM', idem_exp_key, unpack(expired))
end

-- Trim history older than the retention cutoff, a bounded batch at a time,
-- but never the events after base_v, which a load folds into the state.
-- The state hash keeps the time of the log's oldest entry (head_t), so the
-- common case reads no entry at all; a log without it (a pair stored before
-- head_t existed, or its first event) has its head read once.
local cutoff = tonumber(ARGV[11])
local function entry_time(entry)
  local fields = entry[2]
  for j = 1, #fields, 2 do
    if fields[j] == 't' then return tonumber(fields[j + 1]) end
  end
  return cutoff
end
local function head_time()
  local t = entry_time(redis.call('XRANGE', log_key, '-', '+', 'COUNT', 1)[1])
  redis.call('HSET', state_key, 'head_t', t)
  return t
end
local head_t = tonumber(current[3]) or head_time()
if head_t < cutoff then
  local first_kept = nil
  for _, entry in ipairs(redis.call('XRANGE', log_key, '-', '+', 'COUNT', 256)) do
    if entry_time(entry) >= cutoff then break end
    first_kept = tonumber(string.match(entry[1], '^(%d+)')) + 1
  end
  if first_kept and first_kept > base_v + 1 then
    first_kept = base_v + 1
  end
  if first_kept then
    redis.call('XTRIM', log_key, 'MINID', first_kept .. '-0')
    redis.call('HSET', state_key, 'first_seq', first_kept)
  end
  head_time()
end

-- With replica confirmation on, the hub publishes after WAIT instead ('' here).
-- NUMSUB counts the calling hub's own subscription when it says it has one.
local published = 0
if ARGV[10] ~= '' then
  local others = 1
  if ARGV[13] == '1' then
    others = redis.call('PUBSUB', 'NUMSUB', ARGV[9])[2] - 1
  end
  if others > 0 then
    redis.call(ARGV[10], ARGV[9], 'e' .. seq .. ':' .. ARGV[4] .. ':' .. ARGV[3])
    published = 1
  end
end
return {'ok', seq, published}
