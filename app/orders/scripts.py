"""The Lua scripts that are the only writers of an order (app/orders/store.py runs them).

Every script reads the time from Redis (`TIME`), unless a test passes its own clock as the
first argument, so every deadline, claim and schedule decision is made on one clock, whatever
the callers' hosts think the time is. Every script is guarded on the order's status, and a
move's writes on the mover's claim token: a script that does not find what it expects changes
nothing and says why.

Times in the record and the schedule are Unix milliseconds; the indexes (open, by time, by
location, reconcile) keep Unix seconds for the lists that page on them.
"""

from __future__ import annotations

from app.orders.lifecycle import (
    FINAL,
    Callback,
    Move,
    MoveResult,
    Reconcile,
    Status,
    Write,
    lua_enum,
    lua_set,
    lua_transitions,
)

# Fields an order move reads back with its claim (store.ORDER_FIELDS must match).
FIELDS = (
    "status",
    "doc",
    "fp",
    "deadline",
    "created",
    "handed",
    "validated",
    "calls",
    "cb",
    "cb_attempts",
    "rc",
    "rc_calls",
    "cb_by",
    "acked",
    "pos_body",
    "cx",
    "cx_at",
)
_FIELDS = ", ".join(f"'{name}'" for name in FIELDS)

PRELUDE = f"""
local FINAL = {lua_set(FINAL)}
local CB = {lua_enum(Callback)}
local STATUS = {lua_enum(Status)}
local MOVE = {lua_enum(Move)}
local RC = {lua_enum(Reconcile)}
local R = {lua_enum(MoveResult)}
local W = {lua_enum(Write)}
local MOVES = {lua_transitions()}
local function clock(arg)
  if arg ~= nil and arg ~= '' then return math.floor(tonumber(arg)) end
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function note(key, status, by, text, now, ttl)
  redis.call('RPUSH', key, cjson.encode({{at = now / 1000, status = status, by = by, note = text}}))
  if ttl then redis.call('EXPIRE', key, ttl) end
end
local function fields(key)
  return redis.call('HMGET', key, {_FIELDS})
end
"""

# KEYS: order, history, open, by_time, by_location, schedule, menu, by_location_and_status (pending),
#       moved (the fingerprint of an order the archive's mover just took out of Redis:
#       app/archive/scripts.py; the uid is not new)
# ARGV: now, fp, doc, ttl_deadline_ms ('' none), max_async_ms, retention_s, uid, by, claim_token, claim_ms,
#       the menu version the caller holds ('' none), acked ('pending' when this write's reply confirms it:
#       durability modes fsync and none; '' when a WAIT must confirm it)
# Returns {created, fp, status, now, menu, deadline, menu version, acked}
# The menu (app/menus.py): its version (the writer's SHA-1 in front of it, else SHA-1 of its bytes; ''
# when there is none), and its bytes
# unless they are the version the caller holds.
CREATE = (
    PRELUDE
    + """
local now = clock(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 1 then
  local seen = redis.call('HMGET', KEYS[1], 'fp', 'status', 'acked')
  return {0, seen[1] or '', seen[2] or '', now, false, 0, '', seen[3] or ''}
end
local moved = redis.call('GET', KEYS[9])
if moved then return {0, moved, 'archived', now, false, 0, '', 'archived'} end
local menu, menu_version = redis.call('GET', KEYS[7]), ''
if menu then
  menu_version = string.sub(menu, 1, 3) == 'v1:' and string.sub(menu, 4, 43) or redis.sha1hex(menu)
  if menu_version == ARGV[11] then menu = false end
end
local deadline = now + tonumber(ARGV[5])
if ARGV[4] ~= '' then deadline = math.min(deadline, math.floor(tonumber(ARGV[4]))) end
local claimed = now + tonumber(ARGV[10])
redis.call('HSET', KEYS[1], 'status', STATUS.PENDING, 'fp', ARGV[2], 'doc', ARGV[3], 'deadline', deadline,
           'created', now, 'handed', '0', 'validated', '0', 'calls', '0', 'cb', '', 'cb_attempts', '0',
           'rc', '', 'rc_calls', '0', 'o_claim', ARGV[9], 'o_until', claimed, 'acked', ARGV[12])
redis.call('EXPIRE', KEYS[1], ARGV[6])
note(KEYS[2], STATUS.PENDING, ARGV[8], 'received', now, ARGV[6])
redis.call('ZADD', KEYS[3], now / 1000, ARGV[7])
redis.call('ZADD', KEYS[4], now / 1000, ARGV[7])
redis.call('ZADD', KEYS[5], now / 1000, ARGV[7])
redis.call('ZADD', KEYS[8], now / 1000, ARGV[7])
redis.call('ZADD', KEYS[6], claimed, MOVE.ORDER .. ':' .. ARGV[7])
return {1, ARGV[2], STATUS.PENDING, now, menu or false, deadline, menu_version, ARGV[12]}
"""
)

# A record whose creation the replica did not acknowledge (answered 503, nothing promised) is taken
# back by its creator: nothing half-written stays for a worker to place. Only a pending record under
# the creator's claim, never validated. KEYS: order, history, open, by_time, by_location,
# by_location_and_status (pending), schedule; ARGV: now, uid, token
DISCARD = (
    PRELUDE
    + """
local state = redis.call('HMGET', KEYS[1], 'status', 'o_claim', 'pos_body')
if state[1] ~= STATUS.PENDING or state[2] ~= ARGV[3] or (state[3] and state[3] ~= '') then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
for i = 3, 6 do redis.call('ZREM', KEYS[i], ARGV[2]) end
redis.call('ZREM', KEYS[7], MOVE.ORDER .. ':' .. ARGV[2])
return 1
"""
)

# Claim the next move of one kind (lifecycle.Move): the order, its callback, its reconciliation.
# KEYS: order, schedule, queued; ARGV: now, kind, uid, token, claim_ms
CLAIM = (
    PRELUDE
    + """
local now = clock(ARGV[1])
local kind, member = ARGV[2], ARGV[2] .. ':' .. ARGV[3]
redis.call('ZREM', KEYS[3], member)
local state = redis.call('HMGET', KEYS[1], 'status', 'cb', 'rc', kind .. '_claim', kind .. '_until')
if not state[1] then
  redis.call('ZREM', KEYS[2], member)
  return {0, R.MISSING, now}
end
if (kind == MOVE.ORDER and FINAL[state[1]]) or (kind == MOVE.CALLBACK and state[2] ~= CB.OWED)
    or (kind == MOVE.RECONCILE and state[3] ~= RC.OPEN) then
  redis.call('ZREM', KEYS[2], member)
  return {0, R.SETTLED, now}
end
if state[4] and state[4] ~= '' and tonumber(state[5] or '0') > now then
  return {0, R.BUSY, now, tonumber(state[5])}
end
local due = redis.call('ZSCORE', KEYS[2], member)
if due and tonumber(due) > now then
  return {0, R.NOT_DUE, now, tonumber(due)}
end
local claimed = now + tonumber(ARGV[5])
redis.call('HSET', KEYS[1], kind .. '_claim', ARGV[4], kind .. '_until', claimed)
redis.call('ZADD', KEYS[2], claimed, member)
return {1, 'claimed', now, claimed, fields(KEYS[1])}
"""
)

# One order move's outcome. KEYS: order, history, schedule, open, stats, reconcile, and for `final` the
# location's status indexes: pending, and the final status's (the recovery list's status filter)
# ARGV: now, uid, token ('' = no claim to check), by, note, what, acked ('' or the status this
#       write makes that its reply confirms, or that the writer's earlier confirmed writes made:
#       recorded with it, app/orders/durability.py), then by `what`:
#   final:     to, doc, endpoint, has a callback_url ('1'/'0': its callback is owed from this write on,
#              whoever writes it), reconcile ('0' none; '1' looked up and listed for on-call:
#              pos_outcome_unknown; '2' looked up only: a late placement may still come), reconcile
#              delay ms, decides a recorded cancel ('1': the cancel's own outcome)
#   cancel:    as final (to 'cancelled'), then the reason: final at once when no POST can have been
#              sent (no POS body stored); else the cancel is recorded (cx) and the order's move due now
#   retry:     delay ms, latest due ms ('' none)
#   validated: the POS request body (built once, sent by every POST)
#   handoff:   delay ms
SETTLE = (
    PRELUDE
    + """
local now = clock(ARGV[1])
local uid, token, by, text, what, acked = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local state = redis.call('HMGET', KEYS[1], 'status', 'o_claim', 'handed', 'calls', 'cx', 'pos_body', 'o_until')
local current = state[1]
if not current then return {0, R.MISSING} end
if FINAL[current] then return {0, current} end
if token ~= '' and state[2] ~= token then return {0, R.CLAIM_LOST} end
local member = MOVE.ORDER .. ':' .. uid
if what == W.CANCEL and state[6] and state[6] ~= '' then
  -- a POST may have reached the POS: the cancel is recorded, and the next move voids it
  if state[5] ~= 'requested' then
    redis.call('HSET', KEYS[1], 'cx', 'requested', 'cx_at', now, 'cx_by', by, 'cx_reason', ARGV[15])
    note(KEYS[2], current, by, 'cancel requested: ' .. text, now)
  end
  if not (state[2] and state[2] ~= '' and tonumber(state[7] or '0') > now) then
    redis.call('ZADD', KEYS[3], now, member)
  end
  return {1, 'requested', tonumber(redis.call('HGET', KEYS[1], 'cx_at'))}
end
if acked ~= '' then redis.call('HSET', KEYS[1], 'acked', acked) end
if what == W.FINAL or what == W.CANCEL then
  local to = ARGV[8]
  if not MOVES[current][to] then return {0, current} end
  -- once a cancel is recorded only its own decision (voided: cancelled; not voidable: placed) ends the order
  if state[5] == 'requested' and ARGV[14] ~= '1' then return {0, R.CANCEL_REQUESTED} end
  local path = 'inline'
  if state[3] == '1' then path = 'worker' end
  redis.call('HSET', KEYS[1], 'status', to, 'doc', ARGV[9], 'o_claim', '', 'o_until', '0')
  redis.call('ZREM', KEYS[3], member)
  redis.call('ZREM', KEYS[4], uid)
  if KEYS[8] then
    redis.call('ZREM', KEYS[7], uid)
    redis.call('ZADD', KEYS[8], tonumber(redis.call('HGET', KEYS[1], 'created') or now) / 1000, uid)
  end
  redis.call('HINCRBY', KEYS[5], ARGV[10] .. '|' .. to .. '|' .. path, 1)
  if ARGV[11] == '1' then  -- a final of an order with a callback_url is always called back
    redis.call('HSET', KEYS[1], 'cb', CB.OWED)
    redis.call('ZADD', KEYS[3], now, MOVE.CALLBACK .. ':' .. uid)
  end
  if ARGV[12] ~= '0' then
    redis.call('HSET', KEYS[1], 'rc', RC.OPEN)
    redis.call('ZADD', KEYS[3], now + tonumber(ARGV[13]), MOVE.RECONCILE .. ':' .. uid)
    if ARGV[12] == '1' then redis.call('ZADD', KEYS[6], now / 1000, uid) end
  end
  note(KEYS[2], to, by, text, now)
  return {1, current, path, redis.call('HGET', KEYS[1], 'cb') or ''}
elseif what == W.RETRY then
  local due = now + tonumber(ARGV[8])
  if ARGV[9] ~= '' then due = math.min(due, math.floor(tonumber(ARGV[9]))) end
  if due < now then due = now end
  redis.call('HSET', KEYS[1], 'o_claim', '', 'o_until', '0', 'calls', tonumber(state[4] or '0') + 1)
  redis.call('ZADD', KEYS[3], due, member)
  note(KEYS[2], current, by, text, now)
  return {1, current, due}
elseif what == W.VALIDATED then
  redis.call('HSET', KEYS[1], 'validated', '1', 'pos_body', ARGV[8])
  note(KEYS[2], current, by, text, now)
  return {1, current}
elseif what == W.HANDOFF then
  local due = now + tonumber(ARGV[8])
  redis.call('HSET', KEYS[1], 'handed', '1', 'o_claim', '', 'o_until', '0')
  redis.call('ZADD', KEYS[3], due, member)
  note(KEYS[2], current, by, text, now)
  return {1, current, due}
end
return redis.error_reply('unknown settle: ' .. what)
"""
)

# Just before a POST: it goes only while the caller holds the order's claim and no cancel is
# recorded (a cancel recorded after this finds the POST's key to void). KEYS: order; ARGV: now, token
# Returns '' (it may go), or why not (a MoveResult, or the final status)
MAY_POST = (
    PRELUDE
    + """
local state = redis.call('HMGET', KEYS[1], 'status', 'o_claim', 'cx')
if not state[1] then return R.MISSING end
if state[1] ~= STATUS.PENDING then return state[1] end
if state[2] ~= ARGV[2] then return R.CLAIM_LOST end
if state[3] == 'requested' then return R.CANCEL_REQUESTED end
return ''
"""
)

# The record's state was confirmed durable (the writer's or a reader's WAIT): recorded with it, so
# later reads answer it without a fresh wait (a WAIT after this write makes the mark durable too).
# KEYS: order; ARGV: now, status
CONFIRMED = (
    PRELUDE
    + """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'acked', ARGV[2])
return 1
"""
)


# Just before a callback's POST, after the WAIT that vouches for everything written before it, on the
# same connection (so on the node whose replica answered): it goes only while the caller still holds the
# callback's claim for at least the POST's whole bound, and the callback is still owed. A mover that was
# held up after its claim (a Redis call waiting out a Sentinel or a host that is gone) finds its claim
# lapsed or taken, or the callback delivered by the mover that took it over, and sends nothing.
# KEYS: order; ARGV: now, token, ms the claim must still run
# Returns '' (it may go), or why not: MISSING, SETTLED (not owed any more), CLAIM_LOST, CLAIM_LAPSING
CALLBACK_MAY_SEND = (
    PRELUDE
    + """
local now = clock(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'status', 'cb', 'c_claim', 'c_until')
if not state[1] then return R.MISSING end
if state[2] ~= CB.OWED then return R.SETTLED end
if state[3] ~= ARGV[2] then return R.CLAIM_LOST end
if tonumber(state[4] or '0') < now + tonumber(ARGV[3]) then return R.CLAIM_LAPSING end
return ''
"""
)


# A callback delivery's outcome. KEYS: order, history, schedule, dead
# ARGV: now, uid, token, outcome (delivered | retry | dead), delay ms, result (text)
SETTLE_CALLBACK = (
    PRELUDE
    + """
local now = clock(ARGV[1])
local uid, outcome = ARGV[2], ARGV[4]
local state = redis.call('HMGET', KEYS[1], 'status', 'cb', 'c_claim', 'cb_attempts')
if not state[1] then return {0, R.MISSING} end
if state[2] ~= CB.OWED then return {0, state[2] or ''} end
if state[3] ~= ARGV[3] then return {0, R.CLAIM_LOST} end
local attempts = tonumber(state[4] or '0') + 1
redis.call('HSET', KEYS[1], 'c_claim', '', 'c_until', '0', 'cb_attempts', attempts, 'cb_result', ARGV[6],
           'cb_at', now)
if outcome == R.DELIVERED then
  redis.call('HSET', KEYS[1], 'cb', CB.DELIVERED)
  redis.call('ZREM', KEYS[3], MOVE.CALLBACK .. ':' .. uid)
  redis.call('ZREM', KEYS[4], uid)
elseif outcome == R.DEAD then
  redis.call('HSET', KEYS[1], 'cb', CB.DEAD)
  redis.call('ZREM', KEYS[3], MOVE.CALLBACK .. ':' .. uid)
  redis.call('ZADD', KEYS[4], now / 1000, uid)
else
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), MOVE.CALLBACK .. ':' .. uid)
end
note(KEYS[2], state[1], 'worker', 'callback ' .. outcome .. ': ' .. ARGV[6], now)
return {1, outcome, attempts}
"""
)

# A reconciliation lookup's outcome. KEYS: order, history, schedule, reconcile, found
# ARGV: now, uid, token, outcome (found | voided | absent | retry), delay ms, pos_order_id
SETTLE_RECONCILE = (
    PRELUDE
    + """
local now = clock(ARGV[1])
local uid, outcome = ARGV[2], ARGV[4]
local state = redis.call('HMGET', KEYS[1], 'status', 'rc', 'r_claim', 'rc_calls')
if not state[1] then return {0, R.MISSING} end
if state[2] ~= RC.OPEN then return {0, state[2] or ''} end
if state[3] ~= ARGV[3] then return {0, R.CLAIM_LOST} end
redis.call('HSET', KEYS[1], 'r_claim', '', 'r_until', '0', 'rc_calls', tonumber(state[4] or '0') + 1)
if outcome == R.RETRY then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), MOVE.RECONCILE .. ':' .. uid)
  return {1, outcome}
end
redis.call('ZREM', KEYS[3], MOVE.RECONCILE .. ':' .. uid)
redis.call('ZREM', KEYS[4], uid)
redis.call('HSET', KEYS[1], 'rc', outcome)
if outcome == R.FOUND or outcome == R.VOIDED then
  redis.call('HSET', KEYS[1], 'rc_pos_order_id', ARGV[6])
  redis.call('ZADD', KEYS[5], now / 1000, uid)
  if outcome == R.VOIDED then
    note(KEYS[2], state[1], 'worker', 'reconcile: a POS order made after the deadline was voided: ' .. ARGV[6], now)
  else
    note(KEYS[2], state[1], 'worker', 'reconcile: the POS has this order after all: ' .. ARGV[6], now)
  end
else
  note(KEYS[2], state[1], 'worker', 'reconcile: the POS has no such order', now)
end
return {1, outcome}
"""
)

# Due moves to hand to Celery. KEYS: schedule, queued; ARGV: now, limit, grace ms, the kinds whose queue
# has messages waiting (e.g. 'or': the orders queue; 'c': the callbacks queue).
# A move whose task was sent is sent again once `grace` (a claim period) has passed and its queue is
# empty (a task still waiting in a queue is not lost, so nothing piles up while no worker consumes),
# or, whatever the queue holds, five claim periods after it was sent (a lost task under a queue that
# load keeps busy: at most one task more per move every five periods).
DISPATCH = (
    PRELUDE
    + """
local now = clock(ARGV[1])
local limit, grace, waiting = tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local out, offset = {}, 0
while #out < limit and offset < limit * 10 do
  local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', offset, limit)
  if #due == 0 then break end
  for _, member in ipairs(due) do
    local sent = redis.call('ZSCORE', KEYS[2], member)
    -- lost: its queue is empty a claim period after it was sent, or, whatever the queue, five periods after
    local quiet = not string.find(waiting, string.sub(member, 1, 1), 1, true)
    local lost = sent and ((tonumber(sent) + grace <= now and quiet) or tonumber(sent) + 5 * grace <= now)
    if (not sent or lost) and #out < limit then
      redis.call('ZADD', KEYS[2], now, member)
      table.insert(out, member)
    end
  end
  offset = offset + #due
end
return {now, out}
"""
)

# Mark a move as sent to Celery (so the sweep does not send it again within its grace).
# KEYS: queued; ARGV: now, member
QUEUED = (
    PRELUDE
    + """
redis.call('ZADD', KEYS[1], clock(ARGV[1]), ARGV[2])
return 1
"""
)

# An operator's re-drive: the order's next move is due now, unless one is in flight.
# KEYS: order, history, schedule; ARGV: now, uid, by
REDRIVE = (
    PRELUDE
    + """
local now = clock(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'status', 'o_claim', 'o_until')
if not state[1] then return {0, R.MISSING} end
if FINAL[state[1]] then return {0, state[1]} end
if state[2] and state[2] ~= '' and tonumber(state[3] or '0') > now then return {0, R.BUSY} end
redis.call('ZADD', KEYS[3], now, MOVE.ORDER .. ':' .. ARGV[2])
note(KEYS[2], state[1], ARGV[3], 're-driven', now)
return {1, state[1]}
"""
)

# An operator's replay of a final order's callback: owed again, due now.
# KEYS: order, history, schedule, dead; ARGV: now, uid, by
REPLAY = (
    PRELUDE
    + """
local now = clock(ARGV[1])
local state = redis.call('HMGET', KEYS[1], 'status', 'cb', 'c_claim', 'c_until')
if not state[1] then return {0, R.MISSING} end
if not FINAL[state[1]] then return {0, 'not_final'} end
if state[2] == CB.OWED and state[3] and state[3] ~= '' and tonumber(state[4] or '0') > now then return {0, R.BUSY} end
redis.call('HSET', KEYS[1], 'cb', CB.OWED, 'cb_attempts', '0', 'cb_by', ARGV[3])
redis.call('ZADD', KEYS[3], now, MOVE.CALLBACK .. ':' .. ARGV[2])
redis.call('ZREM', KEYS[4], ARGV[2])
note(KEYS[2], state[1], ARGV[3], 'callback replay requested', now)
return {1, state[1]}
"""
)

# Append a history note to an existing order (nothing else). KEYS: order, history; ARGV: now, by, note
NOTE = (
    PRELUDE
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
note(KEYS[2], status, ARGV[2], ARGV[3], clock(ARGV[1]))
return 1
"""
)
