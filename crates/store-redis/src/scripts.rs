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

/// For each `i`, adds `ARGV[2i-1]` (may be negative) to counter `KEYS[i]`, stopping at
/// zero, and sets its TTL to `ARGV[2i]` milliseconds (0 expires it at once). One key for
/// `add`, several for `add_many`.
pub(crate) const ADD: &str = r"
for i = 1, #KEYS do
  local current = tonumber(redis.call('GET', KEYS[i]) or '0')
  if current + tonumber(ARGV[2 * i - 1]) <= 0 then
    redis.call('SET', KEYS[i], '0')
  else
    redis.call('INCRBY', KEYS[i], ARGV[2 * i - 1])
  end
  redis.call('PEXPIRE', KEYS[i], ARGV[2 * i])
end
return 1
";
