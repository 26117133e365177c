-- seckill.lua with an off-by-one: it sells while the stock is >= 0, so the
-- purchase that finds 0 left still decrements. It oversells by one
-- purchase. Written for seckill-bench (scenarios/own-script-off-by-one.toml).
--
-- KEYS[1] stock, KEYS[2] buyers (set), KEYS[3] orders (stream)
-- ARGV[1] buyer id, ARGV[2] quantity
-- Replies: 0 sold, 1 sold out, 2 duplicate
local stock = tonumber(redis.call("GET", KEYS[1]))
local quantity = tonumber(ARGV[2])
if stock == nil or stock < 0 then -- the bug: should be stock < quantity
    return 1
end
if redis.call("SISMEMBER", KEYS[2], ARGV[1]) == 1 then
    return 2
end
redis.call("DECRBY", KEYS[1], quantity)
redis.call("SADD", KEYS[2], ARGV[1])
redis.call("XADD", KEYS[3], "*", "buyer", ARGV[1], "quantity", quantity)
return 0
