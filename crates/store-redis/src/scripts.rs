//! The Lua scripts: each runs atomically on the server.

/// Check every counter, then count every one, exactly like `MemoryStore::try_acquire`.
///
/// Each check takes `1 + m` keys and `4 + m` arguments, in order: its counter, then the
/// `m` earlier counters that take room in its window; its limit, cost, TTL in
/// milliseconds, `m`, then the `m` weights of the earlier counters in [0, 1]. Each
/// earlier count adds `ceil(count * weight)`. Returns `{1}` when granted, else
/// `{0, index (0-based), used}`.
pub(crate) const ACQUIRE: &str = r"
local counters, costs, ttls = {}, {}, {}
local k, a, i = 1, 1, 0
while a <= #ARGV do
  local key = KEYS[k]
  local limit = tonumber(ARGV[a])
  local cost = tonumber(ARGV[a + 1])
  local m = tonumber(ARGV[a + 3])
  local used = tonumber(redis.call('GET', key) or '0')
  for j = 1, m do
    local previous = tonumber(redis.call('GET', KEYS[k + j]) or '0')
    used = used + math.ceil(previous * tonumber(ARGV[a + 3 + j]))
  end
  if used + cost > limit then
    return {0, i, used}
  end
  i = i + 1
  counters[i], costs[i], ttls[i] = key, ARGV[a + 1], ARGV[a + 2]
  k = k + 1 + m
  a = a + 4 + m
end
for j = 1, i do
  redis.call('INCRBY', counters[j], costs[j])
  redis.call('PEXPIRE', counters[j], ttls[j])
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
