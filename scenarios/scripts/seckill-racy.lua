#!lua name=seckill_racy
-- The common mistake, as a Redis Function library of two functions that
-- the application calls one after the other (scenarios/own-script-racy.toml
-- runs them as steps = ["check_buyer", "buy"]):
--   1. check_buyer: has this buyer bought already?
--   2. buy: check the stock, decrement, record the buyer and the order.
-- Each call is atomic, the pair is not: two requests of one buyer (a
-- double click, a bot) both pass step 1 before either reaches step 2, and
-- the buyer gets two units. Java's "if (!bought(user)) buy(user)" around
-- two Redis calls has the same gap.
--
-- KEYS[1] stock, KEYS[2] buyers (set), KEYS[3] orders (stream)
-- ARGV[1] buyer id, ARGV[2] quantity
-- Replies: 0 sold, 1 sold out, 2 duplicate, 3 go on to the next step

local function check_buyer(keys, args)
    if redis.call("SISMEMBER", keys[2], args[1]) == 1 then
        return 2
    end
    return 3
end

local function buy(keys, args)
    local stock = tonumber(redis.call("GET", keys[1]))
    local quantity = tonumber(args[2])
    if stock == nil or stock < quantity then
        return 1
    end
    redis.call("DECRBY", keys[1], quantity)
    redis.call("SADD", keys[2], args[1])
    redis.call("XADD", keys[3], "*", "buyer", args[1], "quantity", quantity)
    return 0
end

redis.register_function("check_buyer", check_buyer)
redis.register_function("buy", buy)
