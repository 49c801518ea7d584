"""The Lua scripts that change a Redis batch atomically (key names: :mod:`._keys`).

A task's ``state`` walks ``pending`` → ``intent`` → ``submitted`` → task states → ``final``,
as in SQLite. Every write is fenced: it fails with ``lost`` when another worker owns the
key (this one was declared dead), and with ``missing`` when the record is gone (Redis lost
its data), which makes the writer restore what it knows first. Scripts name some keys they
build from ``base`` instead of declaring them: a single Redis server (with or without
replicas) is supported, Redis Cluster is not.
"""

from __future__ import annotations

from seedance_async.distributed._keys import LUA_KEY_PARTS

__all__ = [
    "ADOPTION",
    "CLAIM",
    "ENQUEUE",
    "HEARTBEAT",
    "INTENT",
    "NOT_CREATED",
    "PROGRESS",
    "RESTORE",
    "RESULT",
    "STATUS",
    "SUBMITTED",
    "TAKEOVER",
]


_PRELUDE = (
    LUA_KEY_PARTS
    + """
local t = redis.call('TIME')
local now = string.format('%.6f', tonumber(t[1]) + tonumber(t[2]) / 1000000)
local function index(idx, rec, key)
  local v = redis.call('HMGET', rec, 'state', 'outcome', 'provider')
  redis.call('HSET', idx, key, (v[1] or '') .. '|' .. (v[2] or '') .. '|' .. (v[3] or ''))
end
local function fence(owner, rec, key, me)
  local o = redis.call('HGET', owner, key)
  if o and o ~= me then return 'lost' end
  if redis.call('EXISTS', rec) == 0 then return 'missing' end
  return false
end
local function create(rec, meta, order, owner, owned, key, me, spec, hash)
  local seq = redis.call('HINCRBY', meta, 'seq', 1)
  redis.call('HSET', rec, 'spec', spec, 'hash', hash, 'line', '', 'state', 'new')
  redis.call('ZADD', order, 'NX', 1e12 + seq, key)
  redis.call('HINCRBY', meta, 'total', 1)
  redis.call('HSET', owner, key, me)
  redis.call('SADD', owned, key)
end
"""
)

# KEYS rec owner idx meta order owned sending.
# ARGV key me provider attempt intent_at spec hash create.
# The spec is rewritten as SQLite does: the tracker journals the spec as sent (with its
# correlation nonce), which is what a takeover must reconcile with.
INTENT = (
    _PRELUDE
    + """
local o = redis.call('HGET', KEYS[2], ARGV[1])
if o and o ~= ARGV[2] then return 'lost' end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  if ARGV[8] ~= '1' then return 'missing' end
  create(KEYS[1], KEYS[4], KEYS[5], KEYS[2], KEYS[6], ARGV[1], ARGV[2], ARGV[6], ARGV[7])
elseif state == 'final' then
  redis.call('HINCRBY', KEYS[4], 'final', -1)
  redis.call('SADD', KEYS[6], ARGV[1])
end
redis.call('HSET', KEYS[1], 'state', 'intent', 'outcome', '', 'provider', ARGV[3],
  'attempt', ARGV[4], 'intent_at', ARGV[5], 'sent_at', '', 'task_id', '', 'handle', '',
  'status', '', 'result', '', 'spec', ARGV[6], 'hash', ARGV[7], 'updated_at', now)
redis.call('SREM', KEYS[7], ARGV[1])
index(KEYS[3], KEYS[1], ARGV[1])
return 'ok'
"""
)

# KEYS rec owner idx ids idkey sending. ARGV key me provider task_id handle.
SUBMITTED = (
    _PRELUDE
    + """
local bad = fence(KEYS[2], KEYS[1], ARGV[1], ARGV[2])
if bad then return bad end
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'pending' or state == 'final' then return 'no-intent' end
redis.call('HSET', KEYS[1], 'state', 'submitted', 'provider', ARGV[3], 'task_id', ARGV[4],
  'handle', ARGV[5], 'updated_at', now)
redis.call('RPUSH', KEYS[4], ARGV[4])
redis.call('HSETNX', KEYS[5], ARGV[4], ARGV[1])
redis.call('SREM', KEYS[6], ARGV[1])
index(KEYS[3], KEYS[1], ARGV[1])
return 'ok'
"""
)

# KEYS rec owner idx sending. ARGV key me.
NOT_CREATED = (
    _PRELUDE
    + """
local bad = fence(KEYS[2], KEYS[1], ARGV[1], ARGV[2])
if bad then return bad end
redis.call('SREM', KEYS[4], ARGV[1])
if redis.call('HGET', KEYS[1], 'state') == 'intent' then
  redis.call('HSET', KEYS[1], 'state', 'pending', 'intent_at', '', 'sent_at', '',
    'task_id', '', 'handle', '', 'updated_at', now)
  index(KEYS[3], KEYS[1], ARGV[1])
end
return 'ok'
"""
)

# KEYS rec owner idx. ARGV key me state status task_id.
STATUS = (
    _PRELUDE
    + """
local bad = fence(KEYS[2], KEYS[1], ARGV[1], ARGV[2])
if bad then return bad end
if redis.call('HGET', KEYS[1], 'state') ~= 'final' then
  redis.call('HSET', KEYS[1], 'state', ARGV[3], 'status', ARGV[4], 'updated_at', now)
  if (redis.call('HGET', KEYS[1], 'task_id') or '') == '' then
    redis.call('HSET', KEYS[1], 'task_id', ARGV[5])
  end
  index(KEYS[3], KEYS[1], ARGV[1])
end
return 'ok'
"""
)

# KEYS rec owner idx meta owned order ids idkey sending.
# ARGV key me outcome provider task_id handle status result spec hash create.
RESULT = (
    _PRELUDE
    + """
local o = redis.call('HGET', KEYS[2], ARGV[1])
if o and o ~= ARGV[2] then return 'lost' end
local state = redis.call('HGET', KEYS[1], 'state')
if not state then
  if ARGV[11] ~= '1' then return 'missing' end
  create(KEYS[1], KEYS[4], KEYS[6], KEYS[2], KEYS[5], ARGV[1], ARGV[2], ARGV[9], ARGV[10])
end
if state ~= 'final' then redis.call('HINCRBY', KEYS[4], 'final', 1) end
local had_id = (redis.call('HGET', KEYS[1], 'task_id') or '') ~= ''
redis.call('HSET', KEYS[1], 'state', 'final', 'outcome', ARGV[3], 'result', ARGV[8],
  'updated_at', now)
if ARGV[4] ~= '' then redis.call('HSET', KEYS[1], 'provider', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('HSET', KEYS[1], 'task_id', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', KEYS[1], 'handle', ARGV[6]) end
if ARGV[7] ~= '' then redis.call('HSET', KEYS[1], 'status', ARGV[7]) end
if ARGV[5] ~= '' and not had_id then redis.call('RPUSH', KEYS[7], ARGV[5]) end
if ARGV[5] ~= '' then redis.call('HSETNX', KEYS[8], ARGV[5], ARGV[1]) end
redis.call('SREM', KEYS[5], ARGV[1])
redis.call('SREM', KEYS[9], ARGV[1])
index(KEYS[3], KEYS[1], ARGV[1])
return 'ok'
"""
)

# KEYS pending owner owned alive. ARGV me n. Answer {'ok', keys...} or {'dead'}.
CLAIM = """
if redis.call('EXISTS', KEYS[4]) == 0 then return {'dead'} end
local keys = redis.call('LPOP', KEYS[1], tonumber(ARGV[2]))
if not keys then return {'ok'} end
for _, k in ipairs(keys) do
  redis.call('HSET', KEYS[2], k, ARGV[1])
  redis.call('SADD', KEYS[3], k)
end
return {'ok', unpack(keys)}
"""

# KEYS alive_dead owned_dead owner owned_me workers alive_me. ARGV dead me n.
# Answer {'ok', keys...}, {'alive'} (not dead after all) or {'dead'} (the caller is).
TAKEOVER = """
if redis.call('EXISTS', KEYS[6]) == 0 then return {'dead'} end
if redis.call('EXISTS', KEYS[1]) == 1 then return {'alive'} end
local keys = redis.call('SPOP', KEYS[2], tonumber(ARGV[3]))
for _, k in ipairs(keys) do
  redis.call('HSET', KEYS[3], k, ARGV[2])
  redis.call('SADD', KEYS[4], k)
end
if redis.call('SCARD', KEYS[2]) == 0 then redis.call('SREM', KEYS[5], ARGV[1]) end
return {'ok', unpack(keys)}
"""

# KEYS alive meta workers info. ARGV me lease_ms. Answer {lease was held, epoch or ''}.
HEARTBEAT = (
    _PRELUDE
    + """
local had = redis.call('SET', KEYS[1], '1', 'PX', ARGV[2], 'GET')
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[4], 'seen_at', now)
return {had and 1 or 0, redis.call('HGET', KEYS[2], 'epoch') or ''}
"""
)

# KEYS meta order idx owner owned ids idkey sending. ARGV base me new_epoch lost_epoch, then pairs of
# key and JSON fields. Writes records that are missing; answers {epoch, keys owned by others}.
RESTORE = (
    _PRELUDE
    + """
if not redis.call('HGET', KEYS[1], 'epoch') then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[3], 'restored', '1', 'restored_at', now,
    'lost_epoch', ARGV[4])
end
local lost = {}
for i = 5, #ARGV, 2 do
  local key = ARGV[i]
  local rec = ARGV[1] .. TASK_PART .. key
  local o = redis.call('HGET', KEYS[4], key)
  if o and o ~= ARGV[2] then
    table.insert(lost, key)
  elseif redis.call('EXISTS', rec) == 0 then
    local f = cjson.decode(ARGV[i + 1])
    for name, value in pairs(f) do redis.call('HSET', rec, name, value) end
    redis.call('HSET', KEYS[4], key, ARGV[2])
    local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
    redis.call('ZADD', KEYS[2], 'NX', tonumber(f['line'] or '') or (1e12 + seq), key)
    redis.call('HINCRBY', KEYS[1], 'total', 1)
    if f['state'] == 'final' then
      redis.call('HINCRBY', KEYS[1], 'final', 1)
    else
      redis.call('SADD', KEYS[5], key)
    end
    if (f['task_id'] or '') ~= '' then
      redis.call('RPUSH', KEYS[6], f['task_id'])
      redis.call('HSETNX', KEYS[7], f['task_id'], key)
    elseif f['state'] == 'intent' and (f['sent_at'] or '') ~= '' then
      redis.call('SADD', KEYS[8], key)
    end
    index(KEYS[3], rec, key)
  end
end
return {redis.call('HGET', KEYS[1], 'epoch'), unpack(lost)}
"""
)

# KEYS meta pending order idx. ARGV base new_epoch force, then quads key spec hash line.
# Answer {added, -1 when the batch was restored after a loss and force is off}.
ENQUEUE = (
    _PRELUDE
    + """
local epoch = redis.call('HGET', KEYS[1], 'epoch')
if not epoch then
  redis.call('HSET', KEYS[1], 'epoch', ARGV[2], 'created_at', now)
elseif redis.call('HGET', KEYS[1], 'restored') == '1' and ARGV[3] ~= '1' then
  return {0, -1}
end
local added = 0
for i = 4, #ARGV, 4 do
  local key = ARGV[i]
  local rec = ARGV[1] .. TASK_PART .. key
  if redis.call('EXISTS', rec) == 0 then
    redis.call('HSET', rec, 'spec', ARGV[i + 1], 'hash', ARGV[i + 2], 'line', ARGV[i + 3],
      'state', 'pending', 'updated_at', now)
    local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
    redis.call('ZADD', KEYS[3], 'NX', tonumber(ARGV[i + 3]) or (1e12 + seq), key)
    redis.call('RPUSH', KEYS[2], key)
    index(KEYS[4], rec, key)
    added = added + 1
  end
end
redis.call('HINCRBY', KEYS[1], 'total', added)
return {added, 0}
"""
)

# KEYS idkey sending. ARGV base key, then candidate remote ids. One snapshot for adopting a
# listed task: {n, the key owning each candidate ('' if none)..., then for every other key
# with a granted unanswered submit: key, state, sent_at, task_id, spec}.
ADOPTION = (
    LUA_KEY_PARTS
    + """
local out = {#ARGV - 2}
for i = 3, #ARGV do
  table.insert(out, redis.call('HGET', KEYS[1], ARGV[i]) or '')
end
for _, k in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if k ~= ARGV[2] then
    local v = redis.call('HMGET', ARGV[1] .. TASK_PART .. k, 'state', 'sent_at', 'task_id', 'spec')
    table.insert(out, k)
    for j = 1, 4 do table.insert(out, v[j] or '') end
  end
end
return out
"""
)

# KEYS meta pending workers. ARGV base.
# Answer {total, final, pending, owned by any worker, epoch, restored}.
PROGRESS = (
    LUA_KEY_PARTS
    + """
local m = redis.call('HMGET', KEYS[1], 'total', 'final', 'epoch', 'restored')
local owned = 0
for _, w in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  owned = owned + redis.call('SCARD', ARGV[1] .. OWNED_PART .. w)
end
return {tonumber(m[1] or '0'), tonumber(m[2] or '0'), redis.call('LLEN', KEYS[2]), owned,
  m[3] or '', m[4] or ''}
"""
)
