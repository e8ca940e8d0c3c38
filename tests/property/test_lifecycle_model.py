"""A stateful model of the order lifecycle over the real Lua scripts (fakeredis, Lua on).

hypothesis interleaves, for a few orders: the web's submit (which may freeze mid-call and
wake after its claim lapsed), two workers' moves, the sweep, redrives, the clock, and every
POS outcome — placed, refused, expired, in progress, down, and a slow POST that times out but
creates the order later, if its `not_after` still allows. After every step and at the end:

- a final state never changes;
- no lost order: every open order has its next move in the schedule;
- no double placement and none late: the POS holds at most one order per key, created no
  later than the order's deadline;
- placed means the POS has it; rejected or errored (other than pos_outcome_unknown) means it
  does not, and never will.
"""

from __future__ import annotations

import hypothesis.strategies as st
from fakeredis import FakeRedis
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from app import jsonio
from app.menus import MenuCache
from app.orders import decide
from app.orders.checks import OrderChecks
from app.orders.decide import Next
from app.orders.finals import Finals
from app.orders.lifecycle import Move
from app.orders.moves import Mover
from app.orders.order import fingerprint, new_record
from app.orders.store import OrderStore
from app.pos.base import Expired, InProgress, NotVoidable, Placed, PosUnavailable, Refused, Transient, Voided, VoidedKey
from app.settings import load_settings
from schemas.orders import OrderRequestSchema
from tests.conftest import BASE_ENV
from tests.support.factories import create_order, sample_order
from tests.support.fakes import FakeTasks
from tests.support.helpers import NOW, Clock

UIDS = ("ord-a", "ord-b", "ord-c")
SCHEMA = OrderRequestSchema()
MODES = ("up", "down", "transient", "slow_create", "very_slow_create", "in_progress", "refuse", "lookup_down")


class ModelPos:
    """A POS that honours Idempotency-Key, with a mode the model sets; it honours not_after
    unless `honours` is False (a vendor without the field), and voids by key (closing a key
    before an order exists) unless `voidable` is False (the kitchen has it)."""

    voids = "key"

    def __init__(self, clock):
        self.clock = clock
        self.mode = "up"
        self.honours = True
        self.voidable = True
        self.orders: dict[str, tuple[str, float]] = {}  # key -> (pos_order_id, created_at)
        self.voided: set[str] = set()  # keys voided, or closed before an order existed
        self.refused_voids: set[str] = set()  # keys whose void the POS refused (not_voidable)
        self.later: list[tuple[float, str, float]] = []  # (creates at, key, not_after): slow calls

    def live(self, key: str) -> bool:
        return key in self.orders and key not in self.voided

    def land(self) -> None:
        """Slow calls whose creation step comes now: created only if not_after allows (or the POS
        ignores it) and the key was not closed by a void."""
        for at, key, not_after in list(self.later):
            if at <= self.clock():
                self.later.remove((at, key, not_after))
                if key not in self.orders and key not in self.voided and (at <= not_after or not self.honours):
                    self.orders[key] = (f"P-{len(self.orders) + 1}", at)

    def void_order(self, external_id, reason, timeout):
        if self.mode in ("down", "lookup_down"):
            raise PosUnavailable("down")
        if external_id in self.orders and external_id not in self.voided and not self.voidable:
            self.refused_voids.add(external_id)
            return NotVoidable("the kitchen has it")
        self.voided.add(external_id)
        found = self.orders.get(external_id)
        return Voided(found[0] if found else None)

    def get_menu(self, location_id, timeout=None):
        from tests.support.fakes import FakePos

        if self.mode == "down":
            raise PosUnavailable("down")
        return FakePos().get_menu(location_id)

    def order_body(self, order, not_after):
        return jsonio.dumps({"order": order, "not_after": not_after}).encode()

    def send_order(self, key, body, timeout):
        data = jsonio.loads(body)
        return self.place_order(data["order"], float(data["not_after"]), timeout)

    def place_order(self, order, not_after, timeout):
        key, now = order["request_uid"], self.clock()
        if key in self.voided:
            return VoidedKey()
        if key in self.orders:
            return Placed(self.orders[key][0], replayed=True, created_at=self.orders[key][1])
        if any(pending == key for _, pending, _ in self.later):
            return InProgress()  # pos-api.md: a call with this key is still being processed
        if self.mode in ("down", "transient"):
            return Transient("HTTP 503")
        if self.mode == "in_progress":
            return InProgress()
        if self.mode == "refuse":
            return Refused("item_unavailable", "86'd")
        if now > not_after and self.honours:
            return Expired()
        if self.mode in ("slow_create", "very_slow_create"):  # the call times out; the POS creates it later
            self.later.append((now + (5.0 if self.mode == "slow_create" else 12.0), key, not_after))
            return Transient("timeout")
        self.orders[key] = (f"P-{len(self.orders) + 1}", now)
        return Placed(self.orders[key][0], created_at=now)

    def find_order(self, external_id, timeout=None):
        if self.mode in ("down", "lookup_down"):
            raise PosUnavailable("down")
        found = self.orders.get(external_id)
        if not found:
            return None
        return Placed(found[0], replayed=True, created_at=found[1], voided=external_id in self.voided)


class Lifecycle(RuleBasedStateMachine):
    @initialize()
    def start(self):
        self.clock = Clock(NOW)
        env = {
            **BASE_ENV,
            "RETRY_BASE_SECONDS": "0.5",
            "RETRY_CAP_SECONDS": "8",
            "RECONCILE_SECONDS": "30",
            "CLOCK_SKEW_SECONDS": "1",
        }
        self.settings = load_settings(env)
        self.redis = FakeRedis()
        self.pos = ModelPos(self.clock)
        self.store = OrderStore(self.redis, clock=self.clock)
        self.tasks = FakeTasks()
        menus = MenuCache(self.redis, self.pos, 300, self.clock)
        self.finals = Finals(self.store, self.tasks, self.clock)
        self.workers = [
            Mover(self.store, self.pos, OrderChecks(menus, self.settings), self.finals, self.settings) for _ in range(2)
        ]
        self.frozen: dict[str, str] = {}  # uid -> the frozen web request's claim token
        self.seen_final: dict[str, str] = {}
        self.deadlines: dict[str, float] = {}
        self.late_allowed: set[str] = set()

    # -- PAR and the web ------------------------------------------------------------------
    @rule(uid=st.sampled_from(UIDS), ttl=st.sampled_from([None, 5, 20, 60]), freeze=st.booleans())
    def submit(self, uid, ttl, freeze):
        request = SCHEMA.load(sample_order(uid=uid, ttl=ttl))
        doc = new_record(request, self.clock())
        deadline = self.clock() + ttl if ttl else None
        created, token = create_order(
            self.store, uid, fingerprint(request), doc, deadline, 120, "web", 2.0, "menu:loc-001"
        )
        if not created.created:
            return
        self.deadlines[uid] = created.deadline
        if freeze:
            self.frozen[uid] = token  # mid-call; it wakes later, or never
            return
        self._web_call(uid, token)

    def _web_call(self, uid, token):
        order = self.store.get(uid)
        if order is None or order.final:
            return
        if self.clock() >= order.deadline:  # service.submit: no time left before the deadline, no POST
            self.store.hand_off(uid, token, by="web")
            return
        body = self.pos.order_body(order.doc, order.deadline)
        if self.store.mark_validated(uid, token, by="web", pos_body=body) is not None:
            return  # its claim was lost while it was frozen: no POST (service.submit awaits instead)
        result = self.pos.send_order(uid, body, timeout=1)
        decision = decide.after_post(result, order.deadline, 1.0)  # the web's inline path decides as service.py does
        if decision.next is Next.FINISH:
            self.finals.carry_out(order, token, decision, by="web")
        else:
            self.store.hand_off(uid, token, by="web")

    @precondition(lambda self: self.frozen)
    @rule(data=st.data())
    def frozen_web_wakes(self, data):
        uid = data.draw(st.sampled_from(sorted(self.frozen)))
        self._web_call(uid, self.frozen.pop(uid))

    # -- the engine -------------------------------------------------------------------------
    @rule(uid=st.sampled_from(UIDS), worker=st.integers(0, 1))
    def worker_task(self, uid, worker):
        self.workers[worker].move_order(uid)

    @rule()
    def sweep(self):
        for kind, uid in self.store.dispatch(100, 10):
            if kind == "o":
                self.workers[0].move_order(uid)
            elif kind == "r":
                self.workers[1].reconcile(uid)

    @rule(uid=st.sampled_from(UIDS), decide_now=st.booleans())
    def cancel(self, uid, decide_now):
        """PAR's cancel (service.cancel's two writes): stopped at once when no POST can have been
        sent, else recorded; decided now by a mover that can claim it, or by a later move."""
        order = self.store.get(uid)
        if order is None or order.final:
            return
        doc = dict(order.doc, status="cancelled", completed_at=None, errors=[{"code": "cancelled", "message": "x"}])
        outcome, _, _ = self.store.cancel(uid, doc, "par", "x")
        if outcome == "requested" and decide_now:
            self.workers[1].cancel_now(uid, 2.0)

    @rule(uid=st.sampled_from(UIDS))
    def redrive(self, uid):
        self.store.redrive(uid, "cli")

    @rule(seconds=st.sampled_from([0.1, 0.5, 1.0, 2.5, 6.0, 15.0]))
    def tick(self, seconds):
        self.clock.advance(seconds)
        self.pos.land()

    @rule(mode=st.sampled_from(MODES))
    def pos_mode(self, mode):
        self.pos.mode = mode

    @rule(honours=st.booleans(), voidable=st.booleans())
    def pos_kind(self, honours, voidable):
        """The POS enforces not_after or not (a vendor without it), and will void or not."""
        self.pos.honours = honours
        self.pos.voidable = voidable

    # -- what must hold ---------------------------------------------------------------------
    @invariant()
    def finals_never_change(self):
        for uid in UIDS:
            order = self.store.get(uid)
            if order is None:
                continue
            if uid in self.seen_final:
                assert order.status == self.seen_final[uid], (uid, self.seen_final[uid], order.status)
            elif order.final:
                self.seen_final[uid] = order.status

    @invariant()
    def no_open_order_is_lost(self):
        for uid in UIDS:
            order = self.store.get(uid)
            if order is not None and not order.final:
                assert self.store.next_move(uid) is not None, uid

    @invariant()
    def none_placed_late_and_finals_agree_with_the_pos(self):
        """`placed` always means a live POS order; an order that is not placed has no live POS
        order made on time; a late one (a POS ignoring not_after) only until reconciliation."""
        for uid, (_, created_at) in self.pos.orders.items():
            if self.pos.honours and uid not in self.late_allowed:
                assert created_at <= self.deadlines[uid], (uid, created_at, self.deadlines[uid])
            if created_at > self.deadlines[uid]:
                self.late_allowed.add(uid)
        for uid in UIDS:
            order = self.store.get(uid)
            if order is None or not order.final:
                continue
            if order.status == "placed":
                assert self.pos.live(uid), (uid, "placed without a live POS order")
            elif order.status == "cancelled":  # the POS voids by key here: nothing live, nothing to come
                assert not self.pos.live(uid), (uid, "cancelled with a live POS order")
                assert not any(key == uid for _, key, _ in self.pos.later) or uid in self.pos.voided
            elif not any(e.get("code") == "pos_outcome_unknown" for e in order.doc["errors"]):
                made = self.pos.orders.get(uid)
                on_time = made is not None and made[1] <= self.deadlines[uid]
                assert not (self.pos.live(uid) and on_time), (uid, order.status, order.doc["errors"])

    def settled(self) -> bool:
        """Every order final, and no reconciliation lookup still planned."""
        if not all(o is None or o.final for o in (self.store.get(u) for u in UIDS)):
            return False
        return not any(self.store.next_move(uid, Move.RECONCILE) is not None for uid in UIDS)

    def teardown(self):
        """The POS comes back and time passes: every order ends final, agreeing with the POS."""
        if not hasattr(self, "store"):
            return
        self.pos.mode = "up"
        for _ in range(400):
            self.clock.advance(2.0)
            self.pos.land()
            self.sweep()
            if self.settled():
                break
        for uid in UIDS:
            order = self.store.get(uid)
            assert order is None or order.final, (uid, order and order.status)
        self.none_placed_late_and_finals_agree_with_the_pos()
        self.finals_never_change()
        # reconciliation is over: a late POS order is voided, or (not voidable) its order is
        # placed or listed for on-call; nothing not placed keeps a live POS order unlisted
        listed = {uid for uid, _, _ in self.store.indexes.reconcile_list(1000)}
        for uid, (_, created_at) in self.pos.orders.items():
            if created_at > self.deadlines[uid] and self.pos.live(uid):  # late, and still live:
                # voided, unless the POS refused the void or the clocks' allowance (CLOCK_SKEW_SECONDS,
                # 1 s here) cannot call it late; either way listed for on-call
                if created_at > self.deadlines[uid] + 1.0:
                    assert uid in self.pos.refused_voids, (uid, "a late POS order never voided")
                assert uid in listed, (uid, "a late POS order left live, not listed")
        for uid in UIDS:
            order = self.store.get(uid)
            if order is not None and order.status != "placed" and self.pos.live(uid):
                assert uid in listed, (uid, order.status, "a live POS order, not listed")


Lifecycle.TestCase.settings = settings(
    max_examples=300, stateful_step_count=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
TestLifecycle = Lifecycle.TestCase


def test_the_models_web_call_places_an_order_itself():
    """The model's web path POSTs once its validation is recorded (`mark_validated` answers
    None). It compared that answer with the 'ok' of before the lifecycle's enums and, from then
    until this test, never POSTed: every order of the model went to a worker."""
    machine = Lifecycle()
    machine.start()
    machine.submit(UIDS[0], None, False)
    order = machine.store.get(UIDS[0])
    assert order is not None and order.status == "placed" and machine.pos.live(UIDS[0])
