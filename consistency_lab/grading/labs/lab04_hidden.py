"""Hidden checks of lab 04, ``lab04_reservations_and_sagas`` (only the grader imports this module).

More seeds and harsher worlds (more buyers per seat, slower payers, more redeliveries and
failures, recoveries that crash more often), edge cases at the lease boundary, checkouts
that run on a correct inventory and then on the student's own, and a check per part that
the course's ready-made reservations and sagas are not used.  Function names carry the
``l04h_`` prefix so the release's leak scan can find them.

The reference inventory (part 1's answer) lives here, not in the shipped world module: the
hidden checkout checks run on it, so a bug in part 1 costs part 1 only.
"""

from __future__ import annotations

from consistency_lab.grading import check_for
from consistency_lab.grading.labs._isolation import earlier_part_note
from consistency_lab.grading.labs._lab04_world import (Clock, Facts, Lease, PaymentDesk, ScriptedInventory,
                                                       SimulatedCrash, run_recovery, run_sagas, run_sale,
                                                       seat_problems)
from consistency_lab.grading.labs._off_limits import assert_own_work
from consistency_lab.grading.labs.lab04 import (LAB, LEASE_MS, OUTCOMES, _drive, checkout_once, commands, first_problem,
                                                free, recovery_actions, sold_to)
from consistency_lab.sim import Simulation

# The course's own reservations and sagas (chapter 03, chapter 06): a ready answer, off limits here.
_READY_MADE = ("consistency_lab.patterns.reservations", "consistency_lab.patterns.saga",
               "consistency_lab.scenarios.tickets", "consistency_lab.scenarios.tickets_nodes",
               "consistency_lab.scenarios.tickets_buyers", "consistency_lab.scenarios.orders")
_WHAT = "reservations and sagas (consistency_lab.patterns.reservations, .saga, scenarios.tickets, .orders)"


# -- reference (hidden: it is part 1's answer) ----------------------------------------------------

class _RefInventory:
    """A correct seat inventory with leases and tokens."""

    def __init__(self, seats: int, lease_ms: float, clock: Clock) -> None:
        self.seats = [f"s{i}" for i in range(1, seats + 1)]
        self.lease_ms, self.clock = lease_ms, clock
        self.holds: dict = {}
        self.sold: dict = {}
        self.tokens = 0

    def _live(self, lease: Lease) -> bool:
        return self.holds.get(lease.seat) == lease and self.clock.now < lease.expires_at

    def reserve(self, buyer: str):
        """Hold a free seat."""
        for seat in self.seats:
            hold = self.holds.get(seat)
            if seat not in self.sold and (hold is None or hold.expires_at <= self.clock.now):
                self.tokens += 1
                self.holds[seat] = Lease(seat, buyer, self.tokens, self.clock.now + self.lease_ms)
                return self.holds[seat]
        return None

    def confirm(self, lease: Lease) -> bool:
        """Sell a live hold (a repeated confirm of the same sale is True)."""
        if self.sold.get(lease.seat) == lease:
            return True
        if lease.seat in self.sold or not self._live(lease):
            return False
        self.sold[lease.seat] = self.holds.pop(lease.seat)
        return True

    def release(self, lease: Lease) -> bool:
        """Free a live hold."""
        if lease.seat in self.sold or not self._live(lease):
            return False
        del self.holds[lease.seat]
        return True

    def free_seats(self) -> int:
        """Seats neither sold nor held by a live lease."""
        return sum(1 for s in self.seats if s not in self.sold and
                   (s not in self.holds or self.holds[s].expires_at <= self.clock.now))


# -- part 1 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q1_leases", points=30, public=False,
           hint="Contention over many seeds: one sale per seat, only to a live hold, and every lapsed seat returns.")
def l04h_sales_over_seeds(ns):
    """10 seeds, up to 60 buyers for 2 to 6 seats, more slow payers and vanishing buyers: never oversold"""
    for seed in range(10):
        run = run_sale(ns.SeatInventory, seed + 100, seats=2 + seed % 5, buyers=30 + 3 * seed, slow=0.4,
                       vanish=0.3, release=0.2, window_ms=3_000.0)
        problem = first_problem(seat_problems(run), f"sale, seed {seed + 100}")
        assert problem is None, problem
        sold = sold_to(run.inventory)
        free(run.inventory, run.seats - len(sold), f"seed {seed + 100}, after every lease ran out")
        assert len(sold) == len(run.confirmed()), f"seed {seed + 100}: sold has {len(sold)} seats, but " \
                                                  f"{len(run.confirmed())} confirms succeeded"


@check_for(lab=LAB, grade_id="q1_leases", points=30, public=False,
           hint="A lease covers the moments before its expiry time, not the expiry time itself.")
def l04h_lease_boundary(ns):
    """a lease is live 1 ms before it expires, and lapsed at its expiry time"""
    clock = Clock()
    inventory = ns.SeatInventory(1, LEASE_MS, clock)
    a = inventory.reserve("ann")
    clock.now = a.expires_at - 1.0
    assert inventory.reserve("bob") is None, "1 ms before ann's lease expired, bob got her seat"
    assert inventory.confirm(a) is True, "ann confirmed 1 ms before her lease expired and was refused"
    clock = Clock()
    inventory = ns.SeatInventory(1, LEASE_MS, clock)
    a = inventory.reserve("ann")
    clock.now = a.expires_at
    assert inventory.confirm(a) is False, "ann confirmed exactly at her lease's expiry time and it was accepted; " \
                                          "at expires_at the lease has lapsed"
    assert inventory.reserve("bob") is not None, "at the expiry time of ann's lease, bob found no free seat"


@check_for(lab=LAB, grade_id="q1_leases", points=30, public=False,
           hint="Releasing a live hold frees its seat at once; a second release, or a release after the sale, "
                "frees nothing.")
def l04h_release_rules(ns):
    """a release frees the seat at once, a second release is refused, a release after confirm keeps the sale"""
    clock = Clock()
    inventory = ns.SeatInventory(1, LEASE_MS, clock)
    a = inventory.reserve("ann")
    assert inventory.release(a) is True, "ann released her live hold and release did not return True"
    free(inventory, 1, "right after ann's release (long before her lease would end)")
    assert inventory.release(a) is False, "ann's hold was released twice and the second release returned True"
    b = inventory.reserve("bob")
    assert b is not None and b.token != a.token, f"after the release bob got {b!r}: a new hold needs a new token"
    assert inventory.confirm(a) is False, "ann's released lease could still be confirmed, over bob's hold"
    assert inventory.confirm(b) is True
    assert inventory.release(b) is False, "bob released after buying and release returned True"
    assert sold_to(inventory) == {b.seat: "bob"}, f"after bob's late release sold is {sold_to(inventory)}"
    free(inventory, 0, "with the only seat sold")


@check_for(lab=LAB, grade_id="q1_leases", points=30, public=False,
           hint="Re-holding the same seat makes a new hold with a new token; an old lease never speaks for it.")
def l04h_same_buyer_same_seat_new_token(ns):
    """ann's lapsed lease cannot confirm or release her own newer hold on the same seat"""
    clock = Clock()
    inventory = ns.SeatInventory(1, LEASE_MS, clock)
    old = inventory.reserve("ann")
    clock.advance(LEASE_MS + 1.0)
    new = inventory.reserve("ann")
    assert new is not None and new.seat == old.seat and new.token != old.token, \
        f"ann's second hold on the seat is {new!r}; her first was {old!r}: expected the same seat with a new token"
    assert inventory.release(old) is False, "ann's lapsed first lease released her newer hold"
    assert inventory.confirm(old) is False, "ann's lapsed first lease confirmed the seat"
    assert inventory.confirm(new) is True


@check_for(lab=LAB, grade_id="q1_leases", points=30, public=False,
           hint="Keep the state on each instance, never on the class, so two inventories never share seats.")
def l04h_inventories_keep_their_own_state(ns):
    """two inventories side by side do not share holds or sales"""
    clock = Clock()
    a, b = ns.SeatInventory(1, LEASE_MS, clock), ns.SeatInventory(1, LEASE_MS, clock)
    assert a.reserve("ann") is not None and b.reserve("bob") is not None, \
        "two inventories of one seat each: the second could not hold its own seat (shared state?)"


@check_for(lab=LAB, grade_id="q1_leases", points=30, public=False,
           hint="This part asks for your own inventory: the course's reservation book is off limits.")
def l04h_inventory_is_your_own(ns):
    """SeatInventory does not use the course's own reservations"""
    assert_own_work(ns, ["SeatInventory"], _READY_MADE, _WHAT, lambda c: c(2, LEASE_MS, Clock()))


# -- part 2 -----------------------------------------------------------------------------------

_TROUBLE = ("ok", "ok", "ok", "declined", "timeout-before", "timeout-after", "slow", "crash")


def _checkout_day(checkout, make_inventory, seed: int, *, buyers: int = 24, seats: int = 4) -> None:
    """Buyers check out one after another with seeded trouble; fail if a seat or a charge is left stranded."""
    rng = Simulation(seed, trace=False).rng("lab04/checkout-day")
    clock = Clock()
    inventory = make_inventory(seats, LEASE_MS, clock)
    script = {f"b{i:02d}": rng.choice(_TROUBLE) for i in range(buyers)}
    payments = PaymentDesk(clock, script, slow_ms=1_500.0)
    answers = {}
    for i in range(buyers):
        buyer = f"b{i:02d}"
        before = inventory.free_seats()
        try:
            answers[buyer] = checkout(inventory, payments, buyer)
        except SimulatedCrash:
            answers[buyer] = "crashed"  # the process died: its hold stays until the lease runs out
        after = inventory.free_seats()
        where = f"seed {seed}, {buyer} ({script[buyer]}, checkout returned {answers[buyer]!r})"
        if answers[buyer] in ("declined", "timed out", "refunded"):
            assert after >= before, f"{where}: free seats went from {before} to {after}; a failed checkout must " \
                                    "give its seat back at once"
        assert answers[buyer] in OUTCOMES + ("crashed",), f"{where}: unknown answer"
        charged = payments.charged(buyer)
        if answers[buyer] == "ticket":
            assert charged == 1, f"{where}: ticket sold, but {buyer} is charged {charged} times"
        else:
            assert charged == 0, f"{where}: no ticket, but {buyer} is charged {charged} times"
        clock.advance(rng.choice([50.0, 200.0, 900.0]))
    clock.advance(2 * LEASE_MS)
    sold = sold_to(inventory)
    tickets = sorted(b for b, a in answers.items() if a == "ticket")
    assert sorted(sold.values()) == tickets, f"seed {seed}: sold to {sorted(sold.values())}, tickets for {tickets}"
    assert inventory.free_seats() == seats - len(sold), \
        f"seed {seed}: after every lease ran out {inventory.free_seats()} seats are free and {len(sold)} sold, of " \
        f"{seats}: a reservation was left stranded"


@check_for(lab=LAB, grade_id="q2_checkout", points=20, public=False,
           hint="Every way a checkout can end (ticket, sold out, declined, timed out, refunded, crashed) must leave "
                "each seat sold or free and each customer charged only for a ticket.")
def l04h_checkout_days_strand_nothing(ns):
    """8 seeded days of checkouts with declines, timeouts, slow payments and crashes: nothing stranded"""
    for seed in range(8):
        _checkout_day(ns.checkout, _RefInventory, seed)
    return earlier_part_note(lambda: [_checkout_day(ns.checkout, ns.SeatInventory, seed) for seed in range(8)],
                             "q1_leases", "the seat inventory")


@check_for(lab=LAB, grade_id="q2_checkout", points=20, public=False,
           hint="A timeout before the money moved is still a timeout: you cannot tell the two apart, so treat "
                "them alike.")
def l04h_timeout_before_the_money_moved(ns):
    """a payment that timed out before any money moved: seat released, nothing charged, 'timed out'"""
    answer, inventory, payments = checkout_once(ns, "timeout-before")
    assert answer == "timed out", f"checkout returned {answer!r}; expected 'timed out'"
    assert inventory.did("release") == 1 and inventory.did("confirm") == 0, f"inventory calls: {inventory.calls}"
    assert payments.charged("ann") == 0


@check_for(lab=LAB, grade_id="q2_checkout", points=20, public=False,
           hint="Pay only once you hold a seat, and ask for a confirm only once the payment went through.")
def l04h_checkout_call_order(ns):
    """the checkout reserves first, charges once, and confirms only a paid hold"""
    clock = Clock()
    inventory = ScriptedInventory(clock)
    payments = PaymentDesk(clock, {"ann": "ok"})
    ns.checkout(inventory, payments, "ann")
    assert [w for w, _ in inventory.calls] == ["reserve", "confirm"], f"inventory calls: {inventory.calls}"
    assert [w for w, _, _ in payments.calls] == ["charge"], f"payment calls: {payments.calls}"
    assert payments.calls[0][2] == 1, "the charge does not carry the hold's token (the payment's idempotency key)"


@check_for(lab=LAB, grade_id="q2_checkout", points=20, public=False,
           hint="This part asks for your own checkout: the course's reservations are off limits.")
def l04h_checkout_is_your_own(ns):
    """checkout does not use the course's own reservations or sagas"""
    assert_own_work(ns, ["checkout"], _READY_MADE, _WHAT)


# -- part 3 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q3_saga", points=30, public=False,
           hint="With many redeliveries and failures, each step and each compensation still runs exactly once.")
def l04h_sagas_over_seeds(ns):
    """10 seeds, 15 orders, more failures and twice the redeliveries: every order completed or fully undone"""
    for seed in range(10):
        saga = ns.OrderSaga()
        run = run_sagas(saga, seed + 40, orders=15, fail=0.4, duplicate=0.6)
        problem = first_problem(run.problems(), f"seed {seed + 40} ({run.redelivered} redeliveries)")
        assert problem is None, problem
        for o in run.orders:
            want = "completed" if run.participants.facts(o).issued else "compensated"
            assert saga.outcome.get(o) == want, f"seed {seed + 40}: order {o} outcome {saga.outcome.get(o)!r}, " \
                                                f"expected {want!r}"


@check_for(lab=LAB, grade_id="q3_saga", points=30, public=False,
           hint="Undo only what succeeded: a declined card leaves only the seat to release; a refused seat leaves "
                "nothing.")
def l04h_undo_only_what_happened(ns):
    """a declined card releases the seat only; a refused reservation needs no compensation"""
    saga = ns.OrderSaga()
    got = _drive(saga, ["place", ("reserve", True), ("charge", False), ("release", True)])
    assert got == [[("o1", "reserve")], [("o1", "charge")], [("o1", "release")], []], \
        f"declined card: the saga answered {got}; expected reserve, charge, release, then nothing"
    assert saga.outcome.get("o1") == "compensated"
    saga = ns.OrderSaga()
    got = _drive(saga, ["place", ("reserve", False)])
    assert got == [[("o1", "reserve")], []], f"refused reservation: the saga answered {got}; expected nothing to undo"
    assert saga.outcome.get("o1") == "compensated"


@check_for(lab=LAB, grade_id="q3_saga", points=30, public=False,
           hint="A late reply to a step you are no longer waiting for must not restart anything.")
def l04h_late_replies_after_compensation(ns):
    """after a full compensation, every earlier reply delivered again sends nothing"""
    saga = ns.OrderSaga()
    _drive(saga, ["place", ("reserve", True), ("charge", True), ("issue", False), ("refund", True), ("release", True)])
    for late in [("reserve", True), ("charge", True), ("issue", False), ("refund", True), ("release", True)]:
        got = _drive(saga, [late])
        assert got == [[]], f"after the order was compensated, a late {late} made the saga send {got[0]}"
    assert _drive(saga, ["place"]) == [[]], "the same order placed again after it was compensated started over"


@check_for(lab=LAB, grade_id="q3_saga", points=30, public=False,
           hint="Keep the state on each instance, never on the class, so two orchestrators never share orders.")
def l04h_sagas_keep_their_own_state(ns):
    """two orchestrators side by side each run their own order o1"""
    a, b = ns.OrderSaga(), ns.OrderSaga()
    assert commands(a.place("o1"), "to place") == [("o1", "reserve")]
    assert commands(b.place("o1"), "to place") == [("o1", "reserve")], \
        "a second orchestrator refused to start o1 because the first had it: is the state shared?"


@check_for(lab=LAB, grade_id="q3_saga", points=30, public=False,
           hint="This part asks for your own orchestrator: the course's saga is off limits.")
def l04h_saga_is_your_own(ns):
    """OrderSaga does not use the course's own sagas"""
    assert_own_work(ns, ["OrderSaga"], _READY_MADE, _WHAT, lambda c: c())


# -- part 4 -----------------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q4_recovery", points=20, public=False,
           hint="Across crash points and recovery crashes the end is always the same: a ticket with its seat and "
                "charge, or nothing at all.")
def l04h_recovery_over_seeds(ns):
    """10 seeds, 20 orders, recovery crashing half the time: none charged without a ticket, none held"""
    for seed in range(10):
        run = run_recovery(ns.recover, seed + 70, orders=20, crash=0.5)
        problem = first_problem(run.problems(), f"recovery, seed {seed + 70}")
        assert problem is None, problem
        unfinished = [o for o in run.orders if run.participants.facts(o).held and
                      not run.participants.facts(o).issued]
        assert not unfinished, f"seed {seed + 70}: seats still held for {unfinished}"


@check_for(lab=LAB, grade_id="q4_recovery", points=20, public=False,
           hint="Finish what can be finished; undo the rest, latest first; decide only from the facts given.")
def l04h_recovery_of_every_state(ns):
    """from every state an order can be left in, recovery ends complete or undone, the same way each time"""
    for held in (False, True):
        for charged in (False, True):
            for refused in (False, True):
                facts = Facts("r9", held, charged, False, refused)
                want = ["issue"] if held and charged and not refused else \
                    (["refund"] if charged else []) + (["release"] if held else [])
                got = recovery_actions(ns.recover, facts)
                assert got == want, f"starting from {facts}, recovery did {got}; expected {want}"
                assert recovery_actions(ns.recover, facts) == got, f"starting from {facts} twice, recovery did " \
                                                                   "different things: decide from the facts alone"


@check_for(lab=LAB, grade_id="q4_recovery", points=20, public=False,
           hint="This part asks for your own recovery: the course's saga is off limits.")
def l04h_recovery_is_your_own(ns):
    """recover does not use the course's own sagas"""
    assert_own_work(ns, ["recover"], _READY_MADE, _WHAT)
