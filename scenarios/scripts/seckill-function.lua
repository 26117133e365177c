#!lua name=seckill
-- seckill.lua as a Redis Function library (Redis 7+), loaded with
-- FUNCTION LOAD REPLACE and called with FCALL seckill_buy.
-- Written for seckill-bench (scenarios/own-function.toml).
--
-- KEYS[1] stock, KEYS[2] buyers (set), KEYS[3] orders (stream)
-- ARGV[1] buyer id, ARGV[2] quantity
-- Replies: 0 sold, 1 sold out, 2 duplicate

local function buy(keys, args)
    local stock = tonumber(redis.call("GET", keys[1]))
    local quantity = tonumber(args[2])
    if stock == nil or stock < quantity then
        return 1
    end
    if redis.call("SISMEMBER", keys[2], args[1]) == 1 then
        return 2
    end
    redis.call("DECRBY", keys[1], quantity)
    redis.call("SADD", keys[2], args[1])
    redis.call("XADD", keys[3], "*", "buyer", args[1], "quantity", quantity)
    return 0
end

redis.register_function("seckill_buy", buy)
