"""The Lua scripts of :class:`~seedance_async.distributed._budget.RedisBudget`.

Each runs atomically on the Redis server and reads Redis's own clock (``TIME``), so every
process and host sees one bucket, one gate and one set of slots.
"""

from __future__ import annotations

__all__ = ["ADAPT", "COOLDOWN", "SLOT_KEEP", "SLOT_RENEW", "SLOT_TAKE", "TAKE"]

_NOW = """local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: bucket, cooldown, task record, owner hash, the owner's lease, the batch's set of
# granted unanswered submits. ARGV: configured rate, burst, idle TTL ms, task key ('' = no
# mark), owner, how far ahead a slot may be reserved (s). Answer: {granted, wait s, current
# rate, server time, lease ms left}, where granted is 1 (a slot reserved: go after "wait"
# seconds, at the server time given), 0 (nothing reserved: ask again after "wait"), -1
# (another worker owns the task: no token) or -2 (our lease or the record is gone: renew
# or restore, then ask again; no token).
# With a mark, the ownership and lease checks, the grant and the sent_at stamp are one
# atomic step: no token is ever granted for a task its caller does not own under a live lease.
TAKE = (
    _NOW
    + """
local stamp = string.format('%.6f', now)
local lease = 0
if ARGV[4] ~= '' then
  local o = redis.call('HGET', KEYS[4], ARGV[4])
  if o and o ~= ARGV[5] then return {-1, '0', '', stamp, 0} end
  lease = redis.call('PTTL', KEYS[5])
  if not o or lease <= 0 or redis.call('HGET', KEYS[3], 'state') ~= 'intent' then
    return {-2, '0', '', stamp, 0}
  end
end
local closed = redis.call('PTTL', KEYS[2])
if closed > 0 then return {0, tostring(closed / 1000), '', stamp, 0} end
-- GCRA with reservations: 'tat' is when the next request is due on the 1/rate grid. A
-- caller gets the first free slot (up to ARGV[6] seconds ahead) and sleeps until it, so
-- one round trip makes one grant and grants stay on the grid however late callers ask;
-- asking, being told to wait, sleeping and asking again lost every late millisecond.
local b = redis.call('HMGET', KEYS[1], 'tat', 'rate')
local rate = tonumber(b[2]) or tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(b[1]) or now
local slot = math.max(now, tat - (burst - 1) / rate)
if slot - now > tonumber(ARGV[6]) then
  return {0, tostring(slot - now - tonumber(ARGV[6])), tostring(rate), stamp, 0}
end
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', math.max(tat, now) + 1 / rate))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[3], 'sent_at', stamp)
  redis.call('SADD', KEYS[6], ARGV[4])
end
return {1, tostring(slot - now), tostring(rate), string.format('%.6f', slot), lease}
"""
)

# KEYS: bucket. ARGV: configured rate, burst, idle TTL ms, 'down'|'up', factor, floor, hold s,
# increase. Changes the rate of slots not yet reserved. Answer: the new rate.
ADAPT = (
    _NOW
    + """
local b = redis.call('HMGET', KEYS[1], 'rate', 'last_down')
local configured = tonumber(ARGV[1])
local rate = tonumber(b[1]) or configured
if ARGV[4] == 'down' then
  if now - (tonumber(b[2]) or 0) < tonumber(ARGV[7]) then return tostring(rate) end
  rate = math.max(tonumber(ARGV[6]), rate * tonumber(ARGV[5]))
  redis.call('HSET', KEYS[1], 'last_down', string.format('%.6f', now))
else
  rate = math.min(configured, rate + tonumber(ARGV[8]))
end
redis.call('HSET', KEYS[1], 'rate', tostring(rate))
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return tostring(rate)
"""
)

# KEYS: cooldown. ARGV: ms. An earlier reopening is never brought forward.
COOLDOWN = """
local cur = redis.call('PTTL', KEYS[1])
if cur < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], '1', 'PX', ARGV[1]) end
return 1
"""

# The slots key lives at least as long as its longest slot (a kept slot may outlive every
# holder's lease): its TTL is only ever raised.
_NOW_MS = """local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function keep_key(key, ms)
  if redis.call('PTTL', key) < ms then redis.call('PEXPIRE', key, ms) end
end
"""

# KEYS: slots. ARGV: slot id, capacity, lease ms. Answer: {granted, ms until a lease ends}.
SLOT_TAKE = (
    _NOW_MS
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  keep_key(KEYS[1], 2 * tonumber(ARGV[3]))
  return {1, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now}
"""
)

# KEYS: slots. ARGV: lease ms, slot ids. Re-adds slots that vanished (Redis lost its data):
# live holders write back what they hold.
SLOT_RENEW = (
    _NOW_MS
    + """
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i]) end
keep_key(KEYS[1], 2 * tonumber(ARGV[1]))
return #ARGV - 1
"""
)

# KEYS: slots. ARGV: slot id, Unix ms until which it stays taken. The slot of a task that
# may still run on the provider (its submit's outcome is unknown) is no longer renewed by
# its holder: it is kept until the task's own expiry, whoever holds it, then lapses.
SLOT_KEEP = (
    _NOW_MS
    + """
local till = tonumber(ARGV[2])
if till <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], till, ARGV[1])
keep_key(KEYS[1], till - now)
return 1
"""
)
