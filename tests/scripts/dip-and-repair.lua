#!lua name=diprepair
-- A two-step purchase, as a Redis Function library, for tests/history.rs:
-- the first step takes 1000 units more than there are (the stock goes
-- negative), the second gives them back and sells one unit, recording it.
-- Between the two the client may stall, so readings of the stock can see
-- it below zero; the final count balances all the same.
--
-- KEYS[1] stock, KEYS[2] orders (list of purchase ids)
-- ARGV[1] purchase id ({token})
-- Replies: 0 sold, 1 sold out, 2 go on to the next step

local function dip(keys, args)
    local stock = tonumber(redis.call("GET", keys[1]))
    if stock == nil or stock < 1 then
        return 1
    end
    redis.call("DECRBY", keys[1], 1000)
    return 2
end

local function repair(keys, args)
    redis.call("INCRBY", keys[1], 1000)
    local stock = tonumber(redis.call("GET", keys[1]))
    if stock < 1 then
        return 1
    end
    redis.call("DECRBY", keys[1], 1)
    redis.call("RPUSH", keys[2], args[1])
    return 0
end

redis.register_function("dip", dip)
redis.register_function("repair", repair)
