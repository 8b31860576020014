// Small Lua scripts, one per action kind. Each re-checks the state the plan saw and either makes
// its change or returns why not. Rules kept by every script:
// - keys as KEYS, values as ARGV; no loops over collections (the *_MANY scripts loop over their
//   arguments only); no JSON decoding (cjson mangles big ints);
// - every check (including TYPE, so no WRONGTYPE error can stop a script half-way) comes before the
//   first write; the additive write (LPUSH/ZADD, "denyoom") comes first, so a server out of memory
//   refuses the script before anything was removed;
// - the reply is {status, reason}: forward scripts answer applied|skipped (or refused: this one write
//   failed, the run goes on), undo scripts restored|already|conflict|expired|would.
import {createHash} from 'node:crypto'
import type {Redis} from 'ioredis'

export interface LuaScript {
  name: string
  source: string
  sha: string
}

function lua(name: string, source: string): LuaScript {
  const trimmed = source.trim()
  return {name, source: trimmed, sha: createHash('sha1').update(trimmed).digest('hex')}
}

/** Shared helpers prepended to the scripts that need them. */
const TYPE_OF = `local function typeof(k) return redis.call('TYPE', k)['ok'] end`
const SAME_SCORE = `local function samescore(a, b) return a == b or tonumber(a) == tonumber(b) end`
/** Why `member` is not in zset `key` with `score` any more (nil: it is). Needs TYPE_OF and SAME_SCORE. */
const NOT_THERE = `
local function notthere(key, member, score)
  local t = typeof(key)
  if t == 'none' then return key .. ' no longer exists' end
  if t ~= 'zset' then return key .. ' is now a ' .. t end
  local s = redis.call('ZSCORE', key, member)
  if not s then return 'no longer in ' .. key end
  if not samescore(s, score) then return 'its score changed from ' .. score .. ' to ' .. s end
  return nil
end`
/** Is v in key k (list via LPOS, set, zset)? Returns true/false, or nil + reason when it cannot tell. */
const CONTAINS = `
local function contains(k, v)
  local t = typeof(k)
  if t == 'none' then return false end
  if t == 'list' then
    local r = redis.pcall('LPOS', k, v)
    if type(r) == 'table' and r.err then return nil, 'cannot look for it in list ' .. k .. ' (LPOS needs Redis 6.0.6+)' end
    return r ~= false and r ~= nil
  end
  if t == 'set' then return redis.call('SISMEMBER', k, v) == 1 end
  if t == 'zset' then return redis.call('ZSCORE', k, v) ~= false end
  return nil, k .. ' is a ' .. t .. ', not a list, set or zset'
end`

// ---------------------------------------------------------------- forward scripts

/**
 * One zmove: the checks, then LPUSH (denyoom: first), SADD, ZREM. Returns {status, reason}. Within
 * one script call nothing else writes, so a queue it pushed to is a list and a set it added to is a
 * set until the call ends: later jobs of the same call skip those TYPEs and a repeated SADD.
 */
const ZMOVE_ONE = `
local written, registered = {}, {}
local function zmove(from, to, reg, member, score, push, regMember)
  local why = notthere(from, member, score)
  if why then return {'skipped', why} end
  local tt = written[to] or typeof(to)
  if tt ~= 'list' and tt ~= 'none' then return {'skipped', to .. ' is a ' .. tt .. ', not a list'} end
  if reg then
    local rt = written[reg] or typeof(reg)
    if rt ~= 'set' and rt ~= 'none' then return {'skipped', reg .. ' is a ' .. rt .. ', not a set'} end
  end
  redis.call('LPUSH', to, push)
  written[to] = 'list'
  if reg and not (registered[reg] and registered[reg][regMember]) then
    redis.call('SADD', reg, regMember)
    written[reg] = 'set'
    registered[reg] = registered[reg] or {}
    registered[reg][regMember] = true
  end
  redis.call('ZREM', from, member)
  return {'applied', ''}
end`

/** One zrem, if the member still has the expected score. Returns {status, reason}. */
const ZREM_ONE = `
local function zrem(key, member, score)
  local why = notthere(key, member, score)
  if why then return {'skipped', why} end
  redis.call('ZREM', key, member)
  return {'applied', ''}
end`

/** KEYS: from(zset), to(list), [registerSet]  ARGV: member, expectScore, pushValue, [registerMember] */
export const ZMOVE = lua(
  'zmove',
  `${TYPE_OF}
${SAME_SCORE}
${NOT_THERE}
${ZMOVE_ONE}
return zmove(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])`,
)

/** KEYS: key(zset)  ARGV: member, expectScore */
export const ZREM = lua(
  'zrem',
  `${TYPE_OF}
${SAME_SCORE}
${NOT_THERE}
${ZREM_ONE}
return zrem(KEYS[1], ARGV[1], ARGV[2])`,
)

// Many zmoves (or zrems) in one call, for pipelined batches (dead --retry/--purge): each job is
// checked and moved exactly as ZMOVE/ZREM do it, one after the other, and gets its own status. A
// job's checks all come before its writes, so no job is ever half-moved; and Redis refuses a
// script for lack of memory only before its first write, so either nothing happened or every job
// got its status. The loop is over the arguments, never over a collection.

/** Jobs per ZMOVE_MANY / ZREM_MANY call: ~1.5 ms of Redis time for dead-job payloads. */
export const MANY_PER_CALL = 100

/**
 * KEYS, 3 per job: from(zset), to(list), registerSet (any key when there is none)
 * ARGV, 5 per job: member, expectScore, pushValue, hasRegister (1|0), registerMember
 * Reply: {status1, reason1, status2, reason2, …}
 */
export const ZMOVE_MANY = lua(
  'zmove-many',
  `${TYPE_OF}
${SAME_SCORE}
${NOT_THERE}
${ZMOVE_ONE}
local out = {}
for j = 0, math.floor(#ARGV / 5) - 1 do
  local k, a = j * 3, j * 5
  local r = zmove(KEYS[k + 1], KEYS[k + 2], ARGV[a + 4] == '1' and KEYS[k + 3] or nil, ARGV[a + 1], ARGV[a + 2], ARGV[a + 3], ARGV[a + 5])
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
end
return out`,
)

/** KEYS, 1 per job: key(zset)  ARGV, 2 per job: member, expectScore  Reply: {status1, reason1, …} */
export const ZREM_MANY = lua(
  'zrem-many',
  `${TYPE_OF}
${SAME_SCORE}
${NOT_THERE}
${ZREM_ONE}
local out = {}
for j = 0, #KEYS - 1 do
  local r = zrem(KEYS[j + 1], ARGV[j * 2 + 1], ARGV[j * 2 + 2])
  out[#out + 1] = r[1]
  out[#out + 1] = r[2]
end
return out`,
)

/** A counter field that HINCRBY can change: the hash exists and the field holds an integer. */
const COUNTER_OK = `
local function counterproblem(k, f)
  local t = typeof(k)
  if t == 'none' then return k .. ' no longer exists' end
  if t ~= 'hash' then return k .. ' is now a ' .. t end
  local cur = redis.call('HGET', k, f)
  if not cur then return 'field ' .. f .. ' of ' .. k .. ' no longer exists' end
  if not string.match(cur, '^%-?%d+$') then return 'field ' .. f .. ' of ' .. k .. ' is not an integer' end
  return nil
end`

/**
 * KEYS: key(set), [counter(hash)], unlessExists…  ARGV: member, [field, by]
 * With a counter (ARGV has field and by): only when the member is there and the counter can be
 * changed, HINCRBY then SREM. Skipped while any unlessExists key exists.
 */
export const SREM = lua(
  'srem',
  `${TYPE_OF}
${COUNTER_OK}
local t = typeof(KEYS[1])
if t == 'none' then return {'skipped', KEYS[1] .. ' no longer exists'} end
if t ~= 'set' then return {'skipped', KEYS[1] .. ' is now a ' .. t} end
local counter = ARGV[2] ~= nil
for i = counter and 3 or 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return {'skipped', KEYS[i] .. ' exists'} end
end
if counter then
  if redis.call('SISMEMBER', KEYS[1], ARGV[1]) == 0 then return {'skipped', 'no longer a member of ' .. KEYS[1]} end
  local why = counterproblem(KEYS[2], ARGV[2])
  if why then return {'skipped', why} end
  redis.call('HINCRBY', KEYS[2], ARGV[2], ARGV[3])
end
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return {'skipped', 'no longer a member of ' .. KEYS[1]} end
return {'applied', ''}`,
)

/**
 * HDEL / HSET / HINCRBY of one field, if it still holds what the plan read.
 * KEYS: key(hash)  ARGV: op (hdel|hset|hincrby), field, expectIsSet (1|0), expect, operand
 */
export const HFIELD = lua(
  'hfield',
  `${TYPE_OF}
local t = typeof(KEYS[1])
if t ~= 'hash' and not (t == 'none' and ARGV[3] == '0') then
  if t == 'none' then return {'skipped', KEYS[1] .. ' no longer exists'} end
  return {'skipped', KEYS[1] .. ' is now a ' .. t}
end
local cur = redis.call('HGET', KEYS[1], ARGV[2])
if ARGV[3] == '1' then
  if not cur then return {'skipped', 'field ' .. ARGV[2] .. ' no longer exists'} end
  if cur ~= ARGV[4] then return {'skipped', 'field ' .. ARGV[2] .. ' changed since it was read'} end
elseif cur then
  return {'skipped', 'field ' .. ARGV[2] .. ' was created since it was read'}
end
if ARGV[1] == 'hdel' then redis.call('HDEL', KEYS[1], ARGV[2])
elseif ARGV[1] == 'hset' then redis.call('HSET', KEYS[1], ARGV[2], ARGV[5])
else redis.call('HINCRBY', KEYS[1], ARGV[2], ARGV[5]) end
return {'applied', ''}`,
)

/**
 * KEYS: key(list), [registerSet], [memberSet], unlessPresentIn…
 * ARGV: value, hasRegister (1|0), registerMember (or ''), hasMemberCheck (1|0), member (or ''), end (left|right; default left)
 */
export const LPUSH = lua(
  'lpush',
  `${TYPE_OF}
${CONTAINS}
local t = typeof(KEYS[1])
if t ~= 'list' and t ~= 'none' then return {'skipped', KEYS[1] .. ' is a ' .. t .. ', not a list'} end
local first = 2
if ARGV[2] == '1' then
  first = 3
  local rt = typeof(KEYS[2])
  if rt ~= 'set' and rt ~= 'none' then return {'skipped', KEYS[2] .. ' is a ' .. rt .. ', not a set'} end
end
if ARGV[4] == '1' then
  local mk = KEYS[first]
  first = first + 1
  local mt = typeof(mk)
  if mt ~= 'set' then return {'skipped', mk .. (mt == 'none' and ' no longer exists' or (' is now a ' .. mt))} end
  if redis.call('SISMEMBER', mk, ARGV[5]) == 0 then return {'skipped', ARGV[5] .. ' is no longer a member of ' .. mk} end
end
local present, why = contains(KEYS[1], ARGV[1])
if present == nil then return {'skipped', why} end
if present then return {'skipped', 'already in ' .. KEYS[1]} end
for i = first, #KEYS do
  present, why = contains(KEYS[i], ARGV[1])
  if present == nil then return {'skipped', why} end
  if present then return {'skipped', 'already in ' .. KEYS[i]} end
end
redis.call(ARGV[6] == 'right' and 'RPUSH' or 'LPUSH', KEYS[1], ARGV[1])
if ARGV[2] == '1' then redis.call('SADD', KEYS[2], ARGV[3]) end
return {'applied', ''}`,
)

/** KEYS: from(list), to(list), unlessExists…  ARGV: value, toEnd (left|right) */
export const LMOVE = lua(
  'lmove',
  `${TYPE_OF}
for i = 3, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return {'skipped', KEYS[i] .. ' exists'} end
end
local ft = typeof(KEYS[1])
if ft == 'none' then return {'skipped', KEYS[1] .. ' no longer exists'} end
if ft ~= 'list' then return {'skipped', KEYS[1] .. ' is now a ' .. ft} end
local tt = typeof(KEYS[2])
if tt ~= 'list' and tt ~= 'none' then return {'skipped', KEYS[2] .. ' is a ' .. tt .. ', not a list'} end
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return {'skipped', 'no longer in ' .. KEYS[1]} end
if ARGV[2] == 'right' then redis.call('RPUSH', KEYS[2], ARGV[1]) else redis.call('LPUSH', KEYS[2], ARGV[1]) end
return {'applied', ''}`,
)

/**
 * Move a whole sorted set into another: RENAME when the target is absent, else ZUNIONSTORE … AGGREGATE
 * MAX (never SUM: a member in both keeps its larger score) then DEL. KEYS: from, to  ARGV: none
 */
export const ZMERGE = lua(
  'zmerge',
  `${TYPE_OF}
local ft = typeof(KEYS[1])
if ft == 'none' then return {'skipped', KEYS[1] .. ' does not exist: nothing to move'} end
if ft ~= 'zset' then return {'skipped', KEYS[1] .. ' is a ' .. ft .. ', not a sorted set'} end
local tt = typeof(KEYS[2])
if tt == 'none' then
  redis.call('RENAME', KEYS[1], KEYS[2])
  return {'applied', ''}
end
if tt ~= 'zset' then return {'skipped', KEYS[2] .. ' is a ' .. tt .. ', not a sorted set'} end
redis.call('ZUNIONSTORE', KEYS[2], 2, KEYS[2], KEYS[1], 'AGGREGATE', 'MAX')
redis.call('DEL', KEYS[1])
return {'applied', ''}`,
)

// ---- "if absent" writes (snapshot import): add what is missing, never overwrite ----------------

/** KEYS: key(zset)  ARGV: member, score */
export const ZADD_IF_ABSENT = lua(
  'zadd-if-absent',
  `${TYPE_OF}
local t = typeof(KEYS[1])
if t ~= 'zset' and t ~= 'none' then return {'skipped', KEYS[1] .. ' is a ' .. t .. ', not a sorted set'} end
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return {'skipped', 'already in ' .. KEYS[1]} end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
return {'applied', ''}`,
)

/**
 * KEYS: key  ARGV: dump, ttlMs (0 = none)
 * A payload this Redis refuses (a DUMP from a newer Redis, a damaged one) is answered `refused`
 * instead of raised: the action fails, the run goes on.
 */
export const RESTORE_IF_ABSENT = lua(
  'restore-if-absent',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'skipped', KEYS[1] .. ' already exists'} end
local r = redis.pcall('RESTORE', KEYS[1], ARGV[2], ARGV[1])
if type(r) == 'table' and r.err then return {'refused', 'RESTORE refused: ' .. r.err} end
return {'applied', ''}`,
)

/** KEYS: key  ARGV: value, ttlMs (0 = none) */
export const SET_IF_ABSENT = lua(
  'set-if-absent',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'skipped', KEYS[1] .. ' already exists'} end
if ARGV[2] ~= '0' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) else redis.call('SET', KEYS[1], ARGV[1]) end
return {'applied', ''}`,
)

// ---------------------------------------------------------------- undo scripts
// ARGV[1] is the mode: 'apply' writes, 'check' only says what apply would do (--dry-run).
// ARGV[2] is '1' with --force (overwrite conflicting newer data).

/**
 * Put back an unlinked key. KEYS: key, scratch (same slot)  ARGV: mode, force, dump, ttlMs (0 = no TTL)
 * A key that exists is compared with the journaled DUMP. Hash tables (the only encoding that does
 * this) dump their members in another order after a RESTORE, so when such a key's bytes differ the
 * payload is restored into a scratch key inside this same atomic script and that copy's DUMP is
 * compared, which tells "already back" from "re-created with other data".
 */
export const UNDO_UNLINK = lua(
  'undo-unlink',
  `
if redis.call('EXISTS', KEYS[1]) == 1 then
  local cur = redis.call('DUMP', KEYS[1])
  if cur == ARGV[3] then return {'already', 'the key holds exactly the journaled contents'} end
  if string.len(cur) == string.len(ARGV[3]) and redis.call('OBJECT', 'ENCODING', KEYS[1]) == 'hashtable' then
    if ARGV[1] == 'check' then return {'already', 'the key exists with the journaled size, in hash-table order (probably already back)'} end
    if redis.call('EXISTS', KEYS[2]) == 0 then
      redis.call('RESTORE', KEYS[2], 0, ARGV[3])
      local same = redis.call('DUMP', KEYS[2]) == cur
      redis.call('DEL', KEYS[2])
      if same then return {'already', 'the key holds the journaled contents'} end
    end
  end
  if ARGV[2] ~= '1' then return {'conflict', 'the key was re-created since and holds other data; not overwritten (--force replaces it)'} end
  if ARGV[1] == 'check' then return {'would', 'would replace the re-created key (--force)'} end
  redis.call('RESTORE', KEYS[1], ARGV[4], ARGV[3], 'REPLACE')
  return {'restored', 'replaced the re-created key (--force)'}
end
if ARGV[1] == 'check' then return {'would', 'would RESTORE the key'} end
redis.call('RESTORE', KEYS[1], ARGV[4], ARGV[3])
return {'restored', 'RESTOREd'}`,
)

/**
 * Put back a key's old TTL, never shortening the current one.
 * KEYS: key  ARGV: mode, force, expectType, oldPttl (-1 = none), ttlLeftMs (old expiry − now)
 */
export const UNDO_EXPIRE = lua(
  'undo-expire',
  `${TYPE_OF}
local t = typeof(KEYS[1])
if t == 'none' then return {'conflict', 'the key no longer exists (expired or deleted); its contents were not journaled'} end
if t ~= ARGV[3] then return {'conflict', 'the key is now a ' .. t} end
local cur = redis.call('PTTL', KEYS[1])
if ARGV[4] == '-1' then
  if cur == -1 then return {'already', 'the key has no TTL'} end
  if ARGV[1] == 'check' then return {'would', 'would PERSIST the key'} end
  redis.call('PERSIST', KEYS[1])
  return {'restored', 'TTL removed again (PERSIST)'}
end
local left = tonumber(ARGV[5])
if left <= 0 then return {'expired', 'its original TTL has passed since; left as it is'} end
if cur == -1 or cur >= left - 5000 then return {'already', 'its TTL is already at least the original one'} end
if ARGV[1] == 'check' then return {'would', 'would PEXPIRE the key back to its original expiry'} end
redis.call('PEXPIRE', KEYS[1], left)
return {'restored', 'original expiry put back'}`,
)

/** Put back a removed zset member. KEYS: key  ARGV: mode, force, member, score */
export const UNDO_ZREM = lua(
  'undo-zrem',
  `${TYPE_OF}
${SAME_SCORE}
local t = typeof(KEYS[1])
if t ~= 'zset' and t ~= 'none' then return {'conflict', KEYS[1] .. ' is now a ' .. t} end
local s = redis.call('ZSCORE', KEYS[1], ARGV[3])
if s then
  if samescore(s, ARGV[4]) then return {'already', 'the member is back with its score'} end
  if ARGV[2] ~= '1' then return {'conflict', 'the member is back with another score (' .. s .. '); not changed (--force resets it)'} end
  if ARGV[1] == 'check' then return {'would', 'would reset its score to ' .. ARGV[4] .. ' (--force)'} end
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  return {'restored', 'score reset (--force)'}
end
if ARGV[1] == 'check' then return {'would', 'would ZADD it back'} end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
return {'restored', 'ZADDed back'}`,
)

/**
 * Move a member back from the list it was pushed to.
 * KEYS: from(zset), to(list)  ARGV: mode, force, member, score, pushValue
 */
export const UNDO_ZMOVE = lua(
  'undo-zmove',
  `${TYPE_OF}
${CONTAINS}
local ft = typeof(KEYS[1])
if ft ~= 'zset' and ft ~= 'none' then return {'conflict', KEYS[1] .. ' is now a ' .. ft} end
local tt = typeof(KEYS[2])
if tt ~= 'list' and tt ~= 'none' then return {'conflict', KEYS[2] .. ' is now a ' .. tt} end
if redis.call('ZSCORE', KEYS[1], ARGV[3]) then return {'already', 'the member is back in ' .. KEYS[1]} end
if ARGV[1] == 'check' then
  local present, why = contains(KEYS[2], ARGV[5])
  if present == nil then return {'would', 'would move it back from ' .. KEYS[2] .. ' if still there (' .. why .. ')'} end
  if present then return {'would', 'would move it back from ' .. KEYS[2]} end
  if ARGV[2] == '1' then return {'would', 'would re-add it to ' .. KEYS[1] .. ' although it left ' .. KEYS[2] .. ' (--force)'} end
  return {'conflict', 'it is no longer in ' .. KEYS[2] .. ' (a worker may have run it); not re-added (--force re-adds it)'}
end
if redis.call('LREM', KEYS[2], 1, ARGV[5]) == 1 then
  redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
  return {'restored', 'moved back from ' .. KEYS[2]}
end
if ARGV[2] ~= '1' then return {'conflict', 'it is no longer in ' .. KEYS[2] .. ' (a worker may have run it); not re-added to ' .. KEYS[1] .. ' (--force re-adds it)'} end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[3])
return {'restored', 're-added although it had left ' .. KEYS[2] .. ' (--force)'}`,
)

/**
 * Put back a removed set member (and undo the counter change made with it).
 * KEYS: key, [counter]  ARGV: mode, force, member, [field, inverse by]
 * A counter that is gone or no longer an integer is a conflict; --force then puts the member back alone.
 */
export const UNDO_SREM = lua(
  'undo-srem',
  `${TYPE_OF}
${COUNTER_OK}
local t = typeof(KEYS[1])
if t ~= 'set' and t ~= 'none' then return {'conflict', KEYS[1] .. ' is now a ' .. t} end
if t == 'set' and redis.call('SISMEMBER', KEYS[1], ARGV[3]) == 1 then return {'already', 'the member is back'} end
local counter = KEYS[2] ~= nil
if counter then
  local why = counterproblem(KEYS[2], ARGV[4])
  if why then
    if ARGV[2] ~= '1' then return {'conflict', why .. '; not put back (--force puts the member back without the counter)'} end
    counter = false
  end
end
if ARGV[1] == 'check' then return {'would', counter and 'would SADD it back and HINCRBY the counter back' or 'would SADD it back'} end
if counter then redis.call('HINCRBY', KEYS[2], ARGV[4], ARGV[5]) end
redis.call('SADD', KEYS[1], ARGV[3])
return {'restored', counter and 'SADDed back, counter restored' or 'SADDed back'}`,
)

/**
 * Put a hash field back to its old value (HDEL, HSET and HINCRBY entries).
 * KEYS: key  ARGV: mode, force, field, oldIsSet, old, newIsSet, new, forceDelta ('' = set old)
 * Current == old: already back. Current == what the repair wrote: put old back. Else a conflict;
 * --force then sets the old value, or for counters applies the inverse delta (keeps later changes).
 */
export const UNDO_HFIELD = lua(
  'undo-hfield',
  `${TYPE_OF}
local t = typeof(KEYS[1])
if t ~= 'hash' and t ~= 'none' then return {'conflict', KEYS[1] .. ' is now a ' .. t} end
local cur = redis.call('HGET', KEYS[1], ARGV[3])
local function is(isset, v) if isset == '1' then return cur == v end return cur == false end
if is(ARGV[4], ARGV[5]) then return {'already', 'the field holds its old value'} end
local ours = is(ARGV[6], ARGV[7])
if not ours and ARGV[2] ~= '1' then return {'conflict', 'the field changed since the repair; not overwritten (--force puts the old value back)'} end
if not ours and ARGV[8] ~= '' then
  if cur and not string.match(cur, '^%-?%d+$') then return {'conflict', 'the counter no longer holds an integer'} end
  if ARGV[1] == 'check' then return {'would', 'would apply the inverse increment ' .. ARGV[8] .. ' (--force)'} end
  redis.call('HINCRBY', KEYS[1], ARGV[3], ARGV[8])
  return {'restored', 'applied the inverse increment ' .. ARGV[8] .. ' (--force)'}
end
local how = ours and '' or ' (--force)'
if ARGV[1] == 'check' then return {'would', 'would put the old value back' .. how} end
if ARGV[4] == '1' then redis.call('HSET', KEYS[1], ARGV[3], ARGV[5]) else redis.call('HDEL', KEYS[1], ARGV[3]) end
return {'restored', 'old value put back' .. how}`,
)

/** Take back a pushed value. KEYS: key  ARGV: mode, force, value */
export const UNDO_LPUSH = lua(
  'undo-lpush',
  `${TYPE_OF}
${CONTAINS}
local t = typeof(KEYS[1])
if t ~= 'list' and t ~= 'none' then return {'conflict', KEYS[1] .. ' is now a ' .. t} end
if ARGV[1] == 'check' then
  local present, why = contains(KEYS[1], ARGV[3])
  if present == nil then return {'would', 'would LREM it if still there (' .. why .. ')'} end
  if present then return {'would', 'would LREM it from ' .. KEYS[1]} end
  return {'already', 'no longer in ' .. KEYS[1] .. ' (removed, or taken by a worker)'}
end
if redis.call('LREM', KEYS[1], 1, ARGV[3]) == 1 then return {'restored', 'LREMed from ' .. KEYS[1]} end
return {'already', 'no longer in ' .. KEYS[1] .. ' (removed, or taken by a worker)'}`,
)

/** Move an element back. KEYS: from, to  ARGV: mode, force, value */
export const UNDO_LMOVE = lua(
  'undo-lmove',
  `${TYPE_OF}
${CONTAINS}
local ft = typeof(KEYS[1])
if ft ~= 'list' and ft ~= 'none' then return {'conflict', KEYS[1] .. ' is now a ' .. ft} end
local tt = typeof(KEYS[2])
if tt ~= 'list' and tt ~= 'none' then return {'conflict', KEYS[2] .. ' is now a ' .. tt} end
if ARGV[1] == 'check' then
  local present, why = contains(KEYS[2], ARGV[3])
  if present == nil then return {'would', 'would move it back if still in ' .. KEYS[2] .. ' (' .. why .. ')'} end
  if present then return {'would', 'would move it back from ' .. KEYS[2]} end
  if contains(KEYS[1], ARGV[3]) then return {'already', 'it is back in ' .. KEYS[1]} end
  if ARGV[2] == '1' then return {'would', 'would push it back to ' .. KEYS[1] .. ' although it left ' .. KEYS[2] .. ' (--force)'} end
  return {'conflict', 'it is no longer in ' .. KEYS[2] .. ' (a worker may have run it); not pushed back (--force pushes it back)'}
end
if redis.call('LREM', KEYS[2], 1, ARGV[3]) == 1 then
  redis.call('LPUSH', KEYS[1], ARGV[3])
  return {'restored', 'moved back from ' .. KEYS[2]}
end
local back = contains(KEYS[1], ARGV[3])
if back then return {'already', 'it is back in ' .. KEYS[1]} end
if ARGV[2] ~= '1' then return {'conflict', 'it is no longer in ' .. KEYS[2] .. ' (a worker may have run it); not pushed back to ' .. KEYS[1] .. ' (--force pushes it back)'} end
redis.call('LPUSH', KEYS[1], ARGV[3])
return {'restored', 'pushed back although it had left ' .. KEYS[2] .. ' (--force)'}`,
)

/**
 * Undo a zmerge. `stash`: merge what is left in `to` back into `from` (MAX again); `unstash` moved
 * stashed members home, so there is nothing to put back. KEYS: from, to  ARGV: mode, force, purpose
 */
export const UNDO_ZMERGE = lua(
  'undo-zmerge',
  `${TYPE_OF}
if ARGV[3] == 'unstash' then return {'already', 'it brought set-aside members home: nothing to put back'} end
local tt = typeof(KEYS[2])
if tt == 'none' then return {'already', 'nothing is left in ' .. KEYS[2]} end
if tt ~= 'zset' then return {'conflict', KEYS[2] .. ' is now a ' .. tt} end
local ft = typeof(KEYS[1])
if ft ~= 'zset' and ft ~= 'none' then return {'conflict', KEYS[1] .. ' is now a ' .. ft} end
if ARGV[1] == 'check' then return {'would', 'would merge the ' .. redis.call('ZCARD', KEYS[2]) .. ' members of ' .. KEYS[2] .. ' back into ' .. KEYS[1]} end
if ft == 'none' then
  redis.call('RENAME', KEYS[2], KEYS[1])
else
  redis.call('ZUNIONSTORE', KEYS[1], 2, KEYS[1], KEYS[2], 'AGGREGATE', 'MAX')
  redis.call('DEL', KEYS[2])
end
return {'restored', 'merged back into ' .. KEYS[1]}`,
)

/** Take back an added member while it keeps its score. KEYS: key  ARGV: mode, force, member, score */
export const UNDO_ZADD_IF_ABSENT = lua(
  'undo-zadd-if-absent',
  `${TYPE_OF}
${SAME_SCORE}
local t = typeof(KEYS[1])
if t ~= 'zset' and t ~= 'none' then return {'conflict', KEYS[1] .. ' is now a ' .. t} end
local s = redis.call('ZSCORE', KEYS[1], ARGV[3])
if not s then return {'already', 'no longer in ' .. KEYS[1] .. ' (removed, or taken by Sidekiq)'} end
if not samescore(s, ARGV[4]) and ARGV[2] ~= '1' then return {'conflict', 'its score changed to ' .. s .. '; not removed (--force removes it)'} end
if ARGV[1] == 'check' then return {'would', 'would ZREM it'} end
redis.call('ZREM', KEYS[1], ARGV[3])
return {'restored', 'ZREMed from ' .. KEYS[1]}`,
)

/**
 * Take back a restored key while it holds what was restored. A hash-table key of the same size is
 * compared as UNDO_UNLINK does it: the payload is RESTOREd into the scratch key and the DUMPs compared.
 * KEYS: key, scratch (same slot)  ARGV: mode, force, dump
 */
export const UNDO_RESTORE_IF_ABSENT = lua(
  'undo-restore-if-absent',
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {'already', 'the key no longer exists'} end
local cur = redis.call('DUMP', KEYS[1])
local same = cur == ARGV[3]
if not same and string.len(cur) == string.len(ARGV[3]) and redis.call('OBJECT', 'ENCODING', KEYS[1]) == 'hashtable' then
  if ARGV[1] == 'check' then return {'would', 'would UNLINK it (same size, hash-table order: probably unchanged)'} end
  if redis.call('EXISTS', KEYS[2]) == 0 then
    redis.call('RESTORE', KEYS[2], 0, ARGV[3])
    same = redis.call('DUMP', KEYS[2]) == cur
    redis.call('DEL', KEYS[2])
  end
end
if not same and ARGV[2] ~= '1' then return {'conflict', 'the key changed since it was restored; not removed (--force removes it)'} end
if ARGV[1] == 'check' then return {'would', 'would UNLINK it'} end
redis.call('UNLINK', KEYS[1])
return {'restored', same and 'UNLINKed the restored key' or 'UNLINKed the changed key (--force)'}`,
)

/** Take back a key set by SET_IF_ABSENT while it holds that value. KEYS: key  ARGV: mode, force, value */
export const UNDO_SET_IF_ABSENT = lua(
  'undo-set-if-absent',
  `${TYPE_OF}
local t = typeof(KEYS[1])
if t == 'none' then return {'already', 'the key no longer exists'} end
if t ~= 'string' then return {'conflict', KEYS[1] .. ' is now a ' .. t} end
if redis.call('GET', KEYS[1]) ~= ARGV[3] and ARGV[2] ~= '1' then return {'conflict', 'its value changed since it was set; not removed (--force removes it)'} end
if ARGV[1] == 'check' then return {'would', 'would DEL it'} end
redis.call('DEL', KEYS[1])
return {'restored', 'DELeted'}`,
)

export type ScriptArg = string | number | Buffer

/** EVALSHA, falling back to EVAL once when the server does not have the script cached. Returns [status, reason]. */
export async function runScript(redis: Redis, script: LuaScript, keys: string[], args: ScriptArg[]): Promise<[string, string]> {
  let reply: unknown
  try {
    reply = await redis.evalsha(script.sha, keys.length, ...keys, ...args)
  } catch (err) {
    if (!/^NOSCRIPT/.test((err as Error)?.message ?? '')) throw err
    reply = await redis.eval(script.source, keys.length, ...keys, ...args)
  }
  if (!Array.isArray(reply) || typeof reply[0] !== 'string') throw new Error(`script ${script.name} returned an unexpected reply: ${JSON.stringify(reply)}`)
  return [reply[0], String(reply[1] ?? '')]
}
