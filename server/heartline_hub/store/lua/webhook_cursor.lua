-- webhook_cursor.lua: record how far a webhook's deliveries got, while it exists.
--
-- A hub may finish a delivery after the webhook was removed or its pair
-- erased; writing the cursor then would bring the pair's webhooks hash back
-- (a key of an erased pair, with no expiry). So the cursor moves only while
-- the webhook's record is there.
--
-- KEYS[1] the pair's webhooks hash
-- ARGV[1] the webhook's record field   ARGV[2] its cursor field   ARGV[3] the cursor
--
-- Returns 1 when the cursor was written, 0 when the webhook is gone.

if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
return 1
