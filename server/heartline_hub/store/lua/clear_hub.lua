-- clear_hub.lua: forget a dead hub's connections in one pair's online hash.
--
-- KEYS[1] online hash   KEYS[2] state hash
-- ARGV[1] the dead hub's id
--
-- Returns the members whose devices were unmarked (each may have gone offline).

local members = {}
local seen = {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if entries[i + 1] == ARGV[1] then
    redis.call('HDEL', KEYS[1], entries[i])
    local member = string.match(entries[i], '^([^:]+):')
    if not seen[member] then
      seen[member] = true
      members[#members + 1] = member
    end
  end
end
if #members > 0 and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HINCRBY', KEYS[2], 'online_rev', 1)
end
return members
