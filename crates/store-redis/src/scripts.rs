//! The Lua scripts: each runs atomically on the server.

/// Check every counter, then count every one, exactly like `MemoryStore::try_acquire`.
///
/// For check `i` (1-based): `KEYS[2i-1]` is the counter, `KEYS[2i]` the previous window
/// (the counter again when there is none); `ARGV[4i-3]` the limit, `ARGV[4i-2]` the cost,
/// `ARGV[4i-1]` the TTL in milliseconds, `ARGV[4i]` the previous window's weight in
/// [0, 1], or -1 for none. Returns `{1}` when granted, else `{0, index (0-based), used}`.
pub(crate) const ACQUIRE: &str = r"
local n = #KEYS / 2
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local weight = tonumber(ARGV[4 * i])
  if weight >= 0 then
    local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
    used = used + math.ceil(previous * weight)
  end
  if used + tonumber(ARGV[4 * i - 2]) > tonumber(ARGV[4 * i - 3]) then
    return {0, i - 1, used}
  end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[2 * i - 1], ARGV[4 * i - 2])
  redis.call('PEXPIRE', KEYS[2 * i - 1], ARGV[4 * i - 1])
end
return {1}
";

/// Adds `ARGV[1]` (may be negative) to counter `KEYS[1]`, stopping at zero, and sets its
/// TTL to `ARGV[2]` milliseconds (0 expires it at once).
pub(crate) const ADD: &str = r"
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current + tonumber(ARGV[1]) <= 0 then
  redis.call('SET', KEYS[1], '0')
else
  redis.call('INCRBY', KEYS[1], ARGV[1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";
