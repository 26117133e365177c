-- A purchase whose count balances while its ids do not, for
-- tests/history.rs: every sale decrements the stock and is acknowledged,
-- but the 5th, 10th, ... sale records no order and the 1st, 6th, ... sale
-- records its order twice. Sold in fives, the orders' count equals the
-- sales and the stock balances: only the ids show the lost sales and the
-- orders recorded twice.
--
-- KEYS[1] stock, KEYS[2] orders (list of purchase ids), KEYS[3] sales
-- counter (string)
-- ARGV[1] purchase id ({token})
-- Replies: 0 sold, 1 sold out
local stock = tonumber(redis.call("GET", KEYS[1]))
if stock == nil or stock < 1 then
    return 1
end
redis.call("DECRBY", KEYS[1], 1)
local n = redis.call("INCR", KEYS[3])
if n % 5 == 0 then
    return 0
end
redis.call("RPUSH", KEYS[2], ARGV[1])
if n % 5 == 1 then
    redis.call("RPUSH", KEYS[2], ARGV[1])
end
return 0
