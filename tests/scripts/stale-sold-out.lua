-- A purchase that answers sold out from what it saw before, for
-- tests/history.rs: after its first 20 calls it believes the stock gone
-- and says sold out without reading it, while the stock still has units.
-- The sales it makes are recorded correctly: only the sold-out answers
-- are false.
--
-- KEYS[1] stock, KEYS[2] orders (list of purchase ids), KEYS[3] calls
-- counter (string)
-- ARGV[1] purchase id ({token})
-- Replies: 0 sold, 1 sold out
if redis.call("INCR", KEYS[3]) > 20 then
    return 1
end
local stock = tonumber(redis.call("GET", KEYS[1]))
if stock == nil or stock < 1 then
    return 1
end
redis.call("DECRBY", KEYS[1], 1)
redis.call("RPUSH", KEYS[2], ARGV[1])
return 0
