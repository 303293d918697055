"""Public checks of lab 04, ``lab04_reservations_and_sagas``: seat leases, a checkout, an order saga, recovery.

Students run these with ``check("q1_leases")`` and friends.  The world (a virtual clock, a
race of many buyers for few seats, a payment desk with scripted trouble, participants that
record every command, a network that reorders and redelivers) is :mod:`._lab04_world`,
shared with the hidden checks.  Part 2 runs on a scripted stand-in inventory, part 3 on
recording participants and part 4 on the participants' records, so a bug in one part
cannot fail another; no reference solution ships with these public checks.
"""

from __future__ import annotations

from consistency_lab.grading import check_for

from ._lab04_world import (Clock, Command, Facts, Participants, PaymentDesk, Reply, ScriptedInventory, run_recovery,
                           run_sagas, run_sale, seat_problems)

LAB = "lab04_reservations_and_sagas"
LEASE_MS = 1_000.0
OUTCOMES = ("ticket", "sold out", "declined", "timed out", "refunded")


def lease_fields(lease, buyer: str, now: float, lease_ms: float = LEASE_MS) -> None:
    """Fail unless ``lease`` is a lease of ``buyer`` that runs from ``now`` for ``lease_ms``."""
    assert lease is not None, f"reserve({buyer!r}) returned None with a free seat"
    for name in ("seat", "buyer", "token", "expires_at"):
        assert hasattr(lease, name), f"reserve returned {lease!r}; return a Lease(seat, buyer, token, expires_at)"
    assert lease.buyer == buyer, f"reserve({buyer!r}) returned a lease for {lease.buyer!r}"
    assert lease.expires_at == now + lease_ms, \
        f"a lease taken at {now:g} ms expires at {lease.expires_at:g} ms; expected {now + lease_ms:g} ms " \
        "(the time of the reserve plus lease_ms)"


def sold_to(inventory) -> dict:
    """seat -> buyer of every sold seat, from the inventory's ``sold`` dict."""
    sold = getattr(inventory, "sold", None)
    assert isinstance(sold, dict), "the inventory has no dict attribute `sold`; keep `self.sold = {}` from the template"
    return {seat: lease.buyer for seat, lease in sold.items()}


def free(inventory, want: int, when: str) -> None:
    """Fail unless ``inventory.free_seats()`` is ``want``."""
    got = inventory.free_seats()
    assert got == want, f"{when}, free_seats() is {got!r}; expected {want}"


def commands(out, when: str) -> list[tuple[str, str]]:
    """(order, action) of each command in ``out``, failing with a readable message when it is not a list of them."""
    assert isinstance(out, (list, tuple)), f"{when} the saga returned {out!r}; return a list of Command records"
    for c in out:
        assert hasattr(c, "order") and hasattr(c, "action"), f"{when} the saga returned {c!r}; return Command records"
    return [(c.order, c.action) for c in out]


def first_problem(problems: list[str], where: str) -> str | None:
    """None when there are no problems, else the first (and how many more)."""
    if not problems:
        return None
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"{where}: {problems[0]}{more}"


# -- part 1: leases ---------------------------------------------------------------------------

@check_for(lab=LAB, grade_id="q1_leases", points=30,
           hint="A hold names its seat, its buyer, a fresh token and the moment it lapses; confirming a live hold "
                "sells the seat, and a confirm that arrives twice is still one sale.")
def a_hold_then_a_confirm_sells_the_seat(ns):
    """reserve holds a free seat with a lease; confirm sells it; with every seat taken, reserve says None"""
    clock = Clock(100.0)
    inventory = ns.SeatInventory(2, LEASE_MS, clock)
    free(inventory, 2, "on a fresh inventory of 2 seats")
    a = inventory.reserve("ann")
    lease_fields(a, "ann", 100.0)
    free(inventory, 1, "with one seat held")
    clock.advance(300.0)
    assert inventory.confirm(a) is True, "ann confirmed her live lease 300 ms after reserving and confirm was not True"
    assert inventory.confirm(a) is True, "the same confirm delivered again returned something else than True: a " \
                                         "redelivered confirm of the sale that already happened is still a success"
    assert sold_to(inventory) == {a.seat: "ann"}, f"after ann's confirm, sold is {sold_to(inventory)}"
    b = inventory.reserve("bob")
    lease_fields(b, "bob", 400.0)
    assert b.seat != a.seat, f"bob got seat {b.seat}, which ann bought"
    assert b.token != a.token, "two holds got the same token"
    got = inventory.reserve("cem")
    assert got is None, f"with one seat sold and one held, reserve('cem') returned {got!r}; expected None"


@check_for(lab=LAB, grade_id="q1_leases", points=30,
           hint="A hold counts only until it lapses: after that its seat is free for the next buyer, and the old "
                "holder can no longer buy it.")
def a_lapsed_hold_returns_its_seat(ns):
    """a hold that is never confirmed lapses: its seat is free again and the late confirm is refused"""
    clock = Clock()
    inventory = ns.SeatInventory(1, LEASE_MS, clock)
    a = inventory.reserve("ann")
    clock.advance(LEASE_MS)
    got = inventory.free_seats()
    assert got == 1, f"ann's lease has run out (she vanished without a word) and free_seats() is {got!r}; expected " \
                     "1: a hold that never expires strands its seat"
    b = inventory.reserve("bob")
    assert b is not None, "ann's lease ran out, yet bob found no free seat: a hold that never expires strands " \
                          "its seat for good"
    assert inventory.confirm(a) is False, "ann confirmed after her lease ran out and the seat went to bob, and " \
                                          "confirm did not return False: the seat would be sold twice"
    assert inventory.confirm(b) is True, "bob's live lease could not be confirmed"
    assert sold_to(inventory) == {b.seat: "bob"}, f"sold is {sold_to(inventory)}; expected only bob's seat"


@check_for(lab=LAB, grade_id="q1_leases", points=30,
           hint="A release must prove it is about the current hold: compare the hold's token, not only the seat.")
def a_stale_release_cannot_free_a_resold_seat(ns):
    """ann's lease lapsed and bob now holds the seat: ann's late release changes nothing"""
    clock = Clock()
    inventory = ns.SeatInventory(1, LEASE_MS, clock)
    a = inventory.reserve("ann")
    clock.advance(LEASE_MS + 200.0)
    b = inventory.reserve("bob")
    assert b is not None, "ann's lease had run out, yet bob found no free seat"
    answer = inventory.release(a)
    assert answer is False, f"ann released her lapsed lease on {a.seat}, which bob now holds, and release returned " \
                            f"{answer!r}; expected False"
    free(inventory, 0, "after ann's stale release, with bob holding the only seat")
    cem = inventory.reserve("cem")
    assert cem is None, "after ann's stale release, cem got bob's seat: the release freed a hold that was not ann's"
    assert inventory.confirm(b) is True, "bob's live lease could not be confirmed after ann's stale release"


@check_for(lab=LAB, grade_id="q1_leases", points=30,
           hint="Under contention every answer must come from the seat's current hold and the clock: sell a seat "
                "once, and only to a live hold.")
def no_oversell_when_thirty_buyers_race_for_four_seats(ns):
    """30 buyers race for 4 seats (some slow, some vanish, some give up): no seat sold twice, lapsed seats return"""
    run = run_sale(ns.SeatInventory, seed=0)
    problem = first_problem(seat_problems(run), "sale, seed 0")
    assert problem is None, problem
    sold = sold_to(run.inventory)
    assert len(sold) == len(run.confirmed()), \
        f"{len(run.confirmed())} confirms succeeded but sold holds {len(sold)} seats"
    free(run.inventory, run.seats - len(sold), f"after the sale, with {len(sold)} seats sold and every lease over")


# -- part 2: checkout -------------------------------------------------------------------------
# Checked on a scripted inventory that answers as told and records its calls: the checkout alone.

def checkout_once(ns, script: str, *, confirm_ok: bool = True, sold_out: bool = False):
    """Run the student's checkout for ann with a scripted payment; return (answer, inventory, payments)."""
    clock = Clock()
    inventory = ScriptedInventory(clock, confirm_ok=confirm_ok, sold_out=sold_out)
    payments = PaymentDesk(clock, {"ann": script}, slow_ms=1_500.0)
    answer = ns.checkout(inventory, payments, "ann")
    assert answer in OUTCOMES, f"checkout returned {answer!r}; return one of {', '.join(map(repr, OUTCOMES))}"
    return answer, inventory, payments


@check_for(lab=LAB, grade_id="q2_checkout", points=20,
           hint="Pay while the seat is held, then confirm the hold; nothing to give back when all went well.")
def a_paid_checkout_confirms_its_hold(ns):
    """a payment that goes through ends with the hold confirmed and one charge"""
    answer, inventory, payments = checkout_once(ns, "ok")
    assert answer == "ticket", f"the payment went through and checkout returned {answer!r}; expected 'ticket'"
    assert inventory.did("confirm") == 1 and inventory.did("release") == 0, \
        f"calls on the inventory: {inventory.calls}; expected one reserve and one confirm"
    assert payments.charged("ann") == 1, f"ann is charged {payments.charged('ann')} times; expected once"


@check_for(lab=LAB, grade_id="q2_checkout", points=20,
           hint="A declined card means the seat is not needed any more: give it back at once instead of letting "
                "the lease run out.")
def a_declined_card_releases_the_seat_at_once(ns):
    """a declined payment releases the hold right away and never confirms it"""
    answer, inventory, payments = checkout_once(ns, "declined")
    assert answer == "declined", f"the card was declined and checkout returned {answer!r}; expected 'declined'"
    assert inventory.did("release") == 1, f"calls on the inventory: {inventory.calls}; a declined card must release " \
                                          "the hold at once (else the seat sits unsellable until the lease runs out)"
    assert inventory.did("confirm") == 0, f"calls on the inventory: {inventory.calls}; a declined card confirmed " \
                                          "the seat"


@check_for(lab=LAB, grade_id="q2_checkout", points=20,
           hint="A timeout is not a no: the money may have moved. Give the seat back and ask for the money back "
                "too; a refund of nothing changes nothing.")
def a_payment_timeout_leaves_nothing_charged_or_held(ns):
    """a payment that timed out after the money moved: the seat is released and ann keeps her money"""
    answer, inventory, payments = checkout_once(ns, "timeout-after")
    assert answer == "timed out", f"the payment timed out and checkout returned {answer!r}; expected 'timed out'"
    assert inventory.did("release") == 1 and inventory.did("confirm") == 0, \
        f"calls on the inventory: {inventory.calls}; expected the hold released and never confirmed"
    assert payments.charged("ann") == 0, "the payment service took ann's money but its answer was lost; checkout " \
                                         "gave up on the ticket and left her charged"


@check_for(lab=LAB, grade_id="q2_checkout", points=20,
           hint="The lease can run out while the customer pays: when the confirm is refused, the charge must be "
                "undone.")
def a_lease_lost_while_paying_is_refunded(ns):
    """a slow payment outlived the lease (confirm refused): ann gets her money back; sold out charges nothing"""
    answer, inventory, payments = checkout_once(ns, "slow", confirm_ok=False)
    assert answer == "refunded", f"the confirm was refused after a slow payment and checkout returned {answer!r}; " \
                                 "expected 'refunded'"
    assert payments.charged("ann") == 0, "ann paid, the lease ran out and her confirm was refused, and she is still " \
                                         "charged: money taken for a seat she does not have"
    answer, inventory, payments = checkout_once(ns, "ok", sold_out=True)
    assert answer == "sold out" and not payments.calls, \
        f"with no seat to hold, checkout returned {answer!r} and called the payment service {payments.calls}"


# -- part 3: the order saga -------------------------------------------------------------------

def _drive(saga, script: list, order: str = "o1"):
    """Feed ``script`` ('place' or (action, ok) replies) to the saga; return each answer as (order, action) pairs."""
    out = []
    for step in script:
        if step == "place":
            out.append(commands(saga.place(order), f"to place({order!r})"))
        else:
            action, ok = step
            out.append(commands(saga.on_reply(Reply(order, action, ok)), f"to Reply({order!r}, {action!r}, {ok})"))
    return out


@check_for(lab=LAB, grade_id="q3_saga", points=30,
           hint="One step at a time: each successful reply asks for the next step; after the last, the order is "
                "complete.")
def a_saga_that_succeeds_runs_each_step_once(ns):
    """reserve, then charge, then issue, each after the previous reply; outcome 'completed'"""
    saga = ns.OrderSaga()
    got = _drive(saga, ["place", ("reserve", True), ("charge", True), ("issue", True)])
    want = [[("o1", "reserve")], [("o1", "charge")], [("o1", "issue")], []]
    assert got == want, f"the saga answered {got}; expected {want}"
    assert saga.outcome.get("o1") == "completed", f"outcome is {saga.outcome.get('o1')!r}; expected 'completed'"


@check_for(lab=LAB, grade_id="q3_saga", points=30,
           hint="Undo in reverse: the latest successful step first, and the next undo only once the previous one "
                "is acknowledged.")
def a_failed_issue_refunds_then_releases(ns):
    """the ticket office refuses: refund first, release after the refund is acknowledged; 'compensated'"""
    saga = ns.OrderSaga()
    got = _drive(saga, ["place", ("reserve", True), ("charge", True), ("issue", False)])
    assert got[-1] == [("o1", "refund")], \
        f"after the issue failed the saga answered {got[-1]}; expected [('o1', 'refund')]: the card was charged " \
        "after the seat was reserved, so the refund comes first, and the release only after it is acknowledged"
    got = _drive(saga, [("refund", True), ("release", True)])
    assert got == [[("o1", "release")], []], f"after the refund and the release were acknowledged the saga answered " \
                                             f"{got}; expected [[('o1', 'release')], []]"
    assert saga.outcome.get("o1") == "compensated", f"outcome is {saga.outcome.get('o1')!r}; expected 'compensated'"


@check_for(lab=LAB, grade_id="q3_saga", points=30,
           hint="Messages arrive more than once: answer each reply only while you are waiting for exactly that "
                "reply, and a placed order only the first time.")
def redelivered_messages_change_nothing(ns):
    """a redelivered order, a redelivered success and a redelivered failure each send nothing more"""
    saga = ns.OrderSaga()
    got = _drive(saga, ["place", "place", ("reserve", True), ("reserve", True)])
    assert got[1] == [] and got[3] == [], f"answers: {got}; a redelivered order or reply must send no command"
    got = _drive(saga, [("charge", True), ("issue", False), ("issue", False), ("charge", True)])
    refunds = sum(cmds.count(("o1", "refund")) for cmds in got)
    assert refunds == 1, f"the failure of issue was delivered twice and the saga sent {refunds} refunds ({got}); " \
                         "a compensation must run exactly once"
    assert got[2] == [] and got[3] == [], f"answers: {got}; a redelivered reply must send no command"


@check_for(lab=LAB, grade_id="q3_saga", points=30,
           hint="Keep each order's progress on its own, and let duplicates and late replies fall through.")
def twelve_orders_over_a_redelivering_network(ns):
    """12 orders, failing steps, reordered and redelivered messages: every order completed or fully undone"""
    saga = ns.OrderSaga()
    run = run_sagas(saga, seed=0)
    problem = first_problem(run.problems(), f"seed 0 ({run.redelivered} redeliveries)")
    assert problem is None, problem
    outcomes = {o: saga.outcome.get(o) for o in run.orders}
    wrong = {o: v for o, v in outcomes.items() if v != ("completed" if run.participants.facts(o).issued
                                                         else "compensated")}
    assert not wrong, f"outcomes {wrong} disagree with what the participants did (issued -> 'completed', " \
                      "else 'compensated')"


# -- part 4: recovery -------------------------------------------------------------------------

def recovery_actions(recover, facts: Facts, rounds: int = 6) -> list[str]:
    """The actions ``recover`` takes for an order in the state ``facts``, asked again until it wants nothing more.

    Whether it sends its commands all at once or one per call does not matter: what counts is
    what gets done, and in which order.
    """
    participants = Participants(frozenset({(facts.order, "issue")}) if facts.refused else frozenset())
    past = (("reserve", facts.held), ("charge", facts.charged), ("issue", facts.issued or facts.refused))
    for action, wanted in past:
        if wanted:
            participants.execute(Command(facts.order, action))
    before = len(participants.done.get(facts.order, []))
    for _ in range(rounds):
        now = participants.facts(facts.order)
        cmds = commands(recover(now), f"for {now}")
        if not cmds:
            return [a for a, _ in participants.done.get(facts.order, [])[before:]]
        for order, action in cmds:
            assert order == facts.order, f"recover({now}) returned a command for another order, {order!r}"
            participants.execute(Command(order, action))
    raise AssertionError(f"starting from {facts}, recover still asked for commands after {rounds} rounds")


@check_for(lab=LAB, grade_id="q4_recovery", points=20,
           hint="An order that is paid for, with its seat still held and no refusal from the ticket office, can "
                "still be finished: finish it.")
def a_paid_held_order_is_finished(ns):
    """paid, seat held, no ticket yet: recovery issues the ticket; an issued order needs nothing"""
    got = recovery_actions(ns.recover, Facts("r1", held=True, charged=True, issued=False))
    assert got == ["issue"], f"for a paid order with its seat held, recovery did {got}; expected ['issue']: the " \
                             "customer paid and the seat is still theirs"
    got = commands(ns.recover(Facts("r1", held=True, charged=True, issued=True)), "for an issued order")
    assert got == [], f"for an order with its ticket issued recover returned {got}; expected []"


@check_for(lab=LAB, grade_id="q4_recovery", points=20,
           hint="What cannot be finished is undone, latest step first: money back before the seat goes back.")
def a_refused_order_is_undone_in_reverse(ns):
    """the ticket office refused: refund, then release (in that order)"""
    got = recovery_actions(ns.recover, Facts("r1", held=True, charged=True, issued=False, refused=True))
    assert got == ["refund", "release"], \
        f"for a paid, held order the ticket office refused, recovery did {got}; expected ['refund', 'release']: " \
        "compensate in reverse order"


@check_for(lab=LAB, grade_id="q4_recovery", points=20,
           hint="Decide from what the records say now: a lone hold is released, a lone charge refunded, nothing "
                "done means nothing to do.")
def half_done_orders_are_cleaned_up(ns):
    """a lone hold is released, a lone charge refunded, an untouched order left alone"""
    cases = [(Facts("r1", True, False, False), ["release"]), (Facts("r1", False, True, False), ["refund"]),
             (Facts("r1", False, False, False), [])]
    for facts, want in cases:
        got = recovery_actions(ns.recover, facts)
        assert got == want, f"starting from {facts}, recovery did {got}; expected {want}"


@check_for(lab=LAB, grade_id="q4_recovery", points=20,
           hint="Recovery can crash too; run again, it must read the records afresh and never undo anything twice.")
def sixteen_crashed_orders_end_clean(ns):
    """16 orders left half done by a crash, and a recovery that crashes too: none charged without a ticket"""
    run = run_recovery(ns.recover, seed=0)
    problem = first_problem(run.problems(), f"recovery, seed 0 ({run.crashes} recovery crashes)")
    assert problem is None, problem
