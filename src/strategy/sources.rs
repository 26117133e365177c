//! The Lua scripts strategies run, in one place so a reader can audit them.

/// Deletes the lock only if it still holds the caller's token: the release
/// from the Redis distributed-lock documentation. KEYS: lock; ARGV: token.
pub const COMPARE_AND_DELETE: &str = r#"
if redis.call("get", KEYS[1]) == ARGV[1] then
    return redis.call("del", KEYS[1])
else
    return 0
end
"#;

/// Takes the lock and hands out the next fencing token, stored in the lock.
/// KEYS: lock, fence; ARGV: ttl ms. Returns the token, or false when taken.
pub const FENCED_ACQUIRE: &str = r#"
if redis.call("exists", KEYS[1]) == 1 then
    return false
end
local token = redis.call("incr", KEYS[2])
redis.call("set", KEYS[1], token, "PX", ARGV[1])
return token
"#;

/// Decrements only if the caller's token is still the newest one handed
/// out: a holder whose lock expired and was taken over is fenced off.
/// KEYS: fence, stock; ARGV: token, quantity. Returns 1 sold, -1 fenced out.
pub const FENCED_DECREMENT: &str = r#"
if redis.call("get", KEYS[1]) ~= ARGV[1] then
    return -1
end
redis.call("decrby", KEYS[2], ARGV[2])
return 1
"#;

/// `record_orders`: [`FENCED_DECREMENT`], and the sale recorded in the
/// orders hash within the same fence check.
/// KEYS: fence, stock, orders; ARGV: token, quantity, purchase id, buyer.
/// Returns 1 sold, -1 fenced out.
pub const FENCED_DECREMENT_RECORDED: &str = r#"
if redis.call("get", KEYS[1]) ~= ARGV[1] then
    return -1
end
redis.call("decrby", KEYS[2], ARGV[2])
redis.call("hset", KEYS[3], ARGV[3], ARGV[4])
return 1
"#;

/// Checks and decrements atomically. KEYS: stock; ARGV: quantity.
/// Returns 1 sold, 0 sold out, -1 no stock key.
pub const CHECK_AND_DECREMENT: &str = r#"
local stock = tonumber(redis.call("get", KEYS[1]))
if stock == nil then
    return -1
end
if stock < tonumber(ARGV[1]) then
    return 0
end
redis.call("decrby", KEYS[1], ARGV[1])
return 1
"#;

/// `record_orders`: [`CHECK_AND_DECREMENT`], and the sale recorded in the
/// orders hash in the same script. KEYS: stock, orders; ARGV: quantity,
/// purchase id, buyer. Returns 1 sold, 0 sold out, -1 no stock key.
pub const CHECK_AND_DECREMENT_RECORDED: &str = r#"
local stock = tonumber(redis.call("get", KEYS[1]))
if stock == nil then
    return -1
end
if stock < tonumber(ARGV[1]) then
    return 0
end
redis.call("decrby", KEYS[1], ARGV[1])
redis.call("hset", KEYS[2], ARGV[2], ARGV[3])
return 1
"#;
