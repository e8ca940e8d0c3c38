"""The archive's two Redis scripts: the guarded removal of a moved final order, and the
restoration of an archived one (a callback replay needs its record back in Redis).

REMOVE deletes an order only when its record is exactly the snapshot the mover committed to
the archive: the SHA-1 of every field and value (sorted by field) and the length of its history
must match, and the record must be final, confirmed durable (acked = status), with no callback
owed and no reconciliation open (a callback given up on moves: its uid stays on
`callbacks:dead`, and a replay restores the order). Anything written to the order after
the snapshot changes one of these, so a removal never drops a state the archive does not hold.
It leaves a short-lived mark with the order's fingerprint, which scripts.CREATE reads: a
submit that looked the uid up in the archive just before the order got there, and creates
after it left Redis, finds the uid taken (409, or the archived answer), never a new record.
"""

from __future__ import annotations

import hashlib

from app.orders.lifecycle import FINAL, Callback, lua_enum, lua_set

_PRELUDE = f"""
local FINAL = {lua_set(FINAL)}
local CB = {lua_enum(Callback)}
"""


def digest(fields: dict[bytes, bytes]) -> str:
    """SHA-1 of a hash's fields as REMOVE computes it: field NUL value NUL, by field."""
    sha = hashlib.sha1()  # noqa: S324 - an equality check against Redis's redis.sha1hex, not security
    for name in sorted(fields):
        sha.update(name + b"\0" + fields[name] + b"\0")
    return sha.hexdigest()


# KEYS: order, history, by_time, by_location, moved, by_location_and_status (the final's)
# ARGV: uid, digest of the snapshot, history length,
#       how long the `moved` mark stays (s): CREATE answers the uid as taken while it does, so a submit
#       that looked in the archive just before the order got there cannot make it anew
# Returns {1, 'removed'} or {0, why}: missing, not_final, not_confirmed, busy, changed
REMOVE = (
    _PRELUDE
    + """
local all = redis.call('HGETALL', KEYS[1])
if #all == 0 then return {0, 'missing'} end
local h, names = {}, {}
for i = 1, #all, 2 do h[all[i]] = all[i + 1]; table.insert(names, all[i]) end
if not FINAL[h['status'] or ''] then return {0, 'not_final'} end
if h['acked'] ~= h['status'] then return {0, 'not_confirmed'} end
local cb = h['cb'] or ''
if cb == CB.OWED or h['rc'] == 'open' then return {0, 'busy'} end
table.sort(names)
local parts = {}
for _, name in ipairs(names) do table.insert(parts, name .. '\\0' .. h[name] .. '\\0') end
if redis.sha1hex(table.concat(parts)) ~= ARGV[2] or redis.call('LLEN', KEYS[2]) ~= tonumber(ARGV[3]) then
  return {0, 'changed'}
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('SET', KEYS[5], h['fp'] or '', 'EX', ARGV[4])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[6], ARGV[1])
return {1, 'removed'}
"""
)

# Put an archived order back (only where Redis has no record of it), in its indexes at its score.
# KEYS: order, history, by_time, by_location, by_location_and_status
# ARGV: uid, ttl s, score, field count n, n field/value pairs, then the history entries
RESTORE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n = tonumber(ARGV[4])
for i = 5, 4 + 2 * n, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('DEL', KEYS[2])
for i = 5 + 2 * n, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('EXPIRE', KEYS[2], ARGV[2]) end
redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[5], ARGV[3], ARGV[1])
return 1
"""
