-- One flash-sale purchase, atomically: the stock check, the one-per-buyer
-- check, the decrement, the buyer record and the order, in one script.
-- Written for seckill-bench (scenarios/own-script.toml).
--
-- KEYS[1] stock, KEYS[2] buyers (set), KEYS[3] orders (stream)
-- ARGV[1] buyer id, ARGV[2] quantity
-- Replies: 0 sold, 1 sold out, 2 duplicate (this buyer bought already)
local stock = tonumber(redis.call("GET", KEYS[1]))
local quantity = tonumber(ARGV[2])
if stock == nil or stock < quantity then
    return 1
end
if redis.call("SISMEMBER", KEYS[2], ARGV[1]) == 1 then
    return 2
end
redis.call("DECRBY", KEYS[1], quantity)
redis.call("SADD", KEYS[2], ARGV[1])
redis.call("XADD", KEYS[3], "*", "buyer", ARGV[1], "quantity", quantity)
return 0
