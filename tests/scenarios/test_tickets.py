"""The last seat: leases and a single authority never oversell; local counters do, and are faster."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consistency_lab import simulate
from consistency_lab.network import Network
from consistency_lab.node import Node
from consistency_lab.patterns.circuit_breaker import CLOSED, HALF_OPEN, OPEN, CircuitBreaker
from consistency_lab.patterns.reservations import (Cancel, Confirm, Reserve, ReservationBook,
                                                   ReservationService)
from consistency_lab.scenarios import get_scenario
from consistency_lab.scenarios.tickets import TicketsResult
from consistency_lab.scenarios.tickets_buyers import OUTCOMES
from consistency_lab.sim import Simulation

SEEDS = range(6)


def run(**params) -> TicketsResult:
    seed = params.pop("seed", 0)
    params.setdefault("trace", False)
    return simulate("tickets", seed=seed, **params)


# -- circuit breaker -----------------------------------------------------------------

def test_breaker_opens_after_threshold_and_fails_fast_until_open_ms_passes():
    b = CircuitBreaker(failure_threshold=3, open_ms=100)
    for t in (0, 1, 2):
        assert b.allow(t)
        b.record_failure(t)
    assert b.state(2) == OPEN
    assert not b.allow(50) and not b.allow(101.9)
    assert b.rejected == 2 and b.times_opened == 1
    assert b.state(102) == HALF_OPEN


def test_breaker_half_open_trial_closes_on_success_and_reopens_on_failure():
    b = CircuitBreaker(failure_threshold=1, open_ms=100)
    b.record_failure(0)
    assert b.allow(100)  # the trial
    assert not b.allow(101)  # only one trial at a time
    b.record_failure(110)
    assert b.state(110) == OPEN and b.times_opened == 2
    assert not b.allow(200)
    assert b.allow(210)
    b.record_success(220)
    assert b.state(220) == CLOSED
    assert [to for _t, _from, to in b.transitions] == [OPEN, HALF_OPEN, OPEN, HALF_OPEN, CLOSED]


def test_breaker_counts_consecutive_failures_only():
    b = CircuitBreaker(failure_threshold=3, open_ms=10)
    for t in range(10):
        b.record_failure(t)
        b.record_failure(t)
        b.record_success(t)
    assert b.state(10) == CLOSED


def test_breaker_recovers_from_a_lost_trial_and_ignores_late_answers_while_open():
    b = CircuitBreaker(failure_threshold=1, open_ms=50)
    b.record_failure(0)
    b.record_success(10)  # an answer to a call sent before the trip
    assert b.state(10) == OPEN
    assert b.allow(50)  # trial whose outcome never comes back
    assert not b.allow(60)
    assert b.allow(100)  # another open_ms later a new trial is allowed


def test_breaker_rejects_bad_arguments_and_time_going_backwards():
    with pytest.raises(ValueError, match="failure_threshold=0 must be an integer >= 1"):
        CircuitBreaker(failure_threshold=0)
    with pytest.raises(ValueError, match="open_ms"):
        CircuitBreaker(open_ms=0)
    b = CircuitBreaker()
    b.allow(10)
    with pytest.raises(ValueError, match="back in time"):
        b.allow(5)


# -- the plain reservation book --------------------------------------------------------

def test_book_sells_each_seat_once_and_confirm_is_idempotent():
    book = ReservationBook(seats=2, lease_ms=100)
    a, b = book.reserve(0, "a"), book.reserve(1, "b")
    assert a is not None and b is not None
    assert book.reserve(2, "c") is None  # both seats held
    assert book.confirm(a.hold_id, 10) == "confirmed"
    assert book.confirm(a.hold_id, 11) == "already-confirmed"
    assert book.reserve(12, "a") is a  # a retried reserve returns the same hold
    assert book.confirm(a.hold_id, 500) == "already-confirmed"  # still sold after the lease
    assert book.sold == 1


def test_book_refuses_confirm_after_expiry_and_puts_the_seat_back_on_sale():
    book = ReservationBook(seats=1, lease_ms=100)
    h = book.reserve(0, "slow")
    assert book.reserve(50, "next") is None
    assert book.available(99.9) == 0
    assert book.available(100) == 1  # the lease ends at created + lease_ms, exclusive
    assert book.confirm(h.hold_id, 100) == "expired"
    assert h.status == "expired" and book.expired == 1 and book.sold == 0
    n = book.reserve(120, "next2")
    assert n is not None and book.confirm(n.hold_id, 130) == "confirmed"
    assert book.oversold == 0


def test_book_cancel_rules():
    book = ReservationBook(seats=3, lease_ms=100)
    a, b, c = (book.reserve(0, k) for k in "abc")
    assert book.cancel(a.hold_id, 1) == "cancelled"
    assert book.cancel(a.hold_id, 2) == "already-cancelled"
    assert book.confirm(a.hold_id, 3) == "cancelled"
    assert book.confirm(b.hold_id, 4) == "confirmed"
    assert book.cancel(b.hold_id, 5) == "confirmed"  # a sale stands
    assert book.cancel(c.hold_id, 200) == "expired"
    assert book.cancel("nope", 201) == "unknown" and book.confirm("nope", 201) == "unknown"
    assert book.available(201) == 2


def test_book_rejects_bad_arguments():
    with pytest.raises(ValueError, match="lease_ms"):
        ReservationBook(seats=1, lease_ms=0)
    with pytest.raises(ValueError, match="seats"):
        ReservationBook(seats=-1, lease_ms=10)
    book = ReservationBook(seats=1, lease_ms=10)
    book.reserve(5)
    with pytest.raises(ValueError, match="back in time"):
        book.reserve(4)


@given(st.integers(1, 5), st.lists(st.tuples(st.sampled_from("rcx"), st.integers(0, 30), st.integers(0, 40)),
                                   max_size=60))
def test_book_never_oversells_under_any_sequence(seats, ops):
    book = ReservationBook(seats=seats, lease_ms=25)
    now, ids = 0, []
    for kind, gap, pick in ops:
        now += gap
        if kind == "r":
            h = book.reserve(now)
            if h is not None:
                ids.append(h.hold_id)
        elif ids:
            hid = ids[pick % len(ids)]
            (book.confirm if kind == "c" else book.cancel)(hid, now)
        assert book.sold + book.live_count <= seats
    statuses = [h.status for h in book.holds.values()]
    assert statuses.count("confirmed") == book.sold <= seats


# -- the simulated service ----------------------------------------------------------

class Probe(Node):
    """Sends one request at a time to the service and keeps the answers."""

    def init_volatile(self) -> None:
        self.answers = []

    def ask(self, msg, timeout=50.0):
        self.request("rs", msg, timeout, lambda reply, _src: self.answers.append(reply.status),
                     lambda: self.answers.append("timeout"))


def _service(**kw):
    sim = Simulation(1)
    net = Network(sim)
    rs = ReservationService("rs", sim, net, seats=kw.pop("seats", 1), lease_ms=kw.pop("lease_ms", 100), **kw)
    probe = Probe("p", sim, net)
    return sim, net, rs, probe


def test_service_confirm_after_expiry_is_refused_and_seat_released_by_timer():
    sim, _net, rs, probe = _service()
    probe.ask(Reserve(req_id=sim.next_id(), key="k"))
    sim.run(10)
    hold_id = rs.book.live_holds()[0].hold_id
    sim.run(150)  # the lease timer fires at 101 with no request to prompt it
    assert rs.book.expired == 1 and rs.book.live_count == 0
    probe.ask(Confirm(req_id=sim.next_id(), hold_id=hold_id))
    probe.ask(Cancel(req_id=sim.next_id(), hold_id=hold_id))
    probe.ask(Reserve(req_id=sim.next_id(), key="k2"))
    sim.run(200)
    assert probe.answers == ["held", "expired", "expired", "held"]


def test_service_crash_fails_requests_keeps_the_book_and_releases_holds_after_restart():
    sim, _net, rs, probe = _service(seats=1, lease_ms=100)
    probe.ask(Reserve(req_id=sim.next_id(), key="a"))
    sim.run(5)
    rs.crash()
    probe.ask(Reserve(req_id=sim.next_id(), key="b"))
    sim.run(300)
    assert probe.answers == ["held", "timeout"]
    assert rs.book.live_count == 1  # nobody was there to expire it
    rs.restart()
    sim.run(301)
    assert rs.book.live_count == 0 and rs.book.expired == 1
    probe.ask(Reserve(req_id=sim.next_id(), key="b"))
    sim.run(400)
    assert probe.answers[-1] == "held" and rs.book.oversold == 0


def test_service_refuses_when_queue_is_full():
    sim, _net, rs, probe = _service(seats=10, capacity=1, service_time=20, queue_limit=1)
    for k in "abc":
        probe.ask(Reserve(req_id=sim.next_id(), key=k), timeout=500)
    sim.run(200)
    assert sorted(probe.answers) == ["held", "held", "overloaded"]
    assert rs.overloaded == 1 and rs.max_queue == 1


# -- the scenario: the invariant ------------------------------------------------------

_crash_rs = st.tuples(st.integers(0, 2500), st.integers(1, 2000), st.booleans()).map(
    lambda t: f"crash:rs@{t[0]}-{t[0] + t[1]}" if t[2] else f"crash:rs@{t[0]}")
_partition = st.tuples(st.sampled_from(["A|B", "A|B,C", "A|C", "rs|web1", "A>B", "rs~web2"]),
                       st.integers(0, 2500), st.integers(1, 2000)).map(lambda t: f"{t[0]}@{t[1]}-{t[1] + t[2]}")
_crash_web = st.tuples(st.integers(0, 3), st.integers(0, 2500), st.integers(1, 2000)).map(
    lambda t: f"crash:web{t[0] % 3}@{t[1]}-{t[1] + t[2]}")
_faults = st.lists(st.one_of(_crash_rs, _partition, _crash_web), max_size=3).map(";".join)


@given(seed=st.integers(0, 10_000), faults=_faults, seats=st.integers(1, 40), buyers=st.integers(1, 150),
       lease_ms=st.sampled_from([50.0, 300.0, 1000.0]), loss=st.sampled_from([0.0, 0.05, 0.2]),
       duplicate=st.sampled_from([0.0, 0.1]), capacity=st.integers(1, 4), breaker=st.booleans())
def test_reservation_never_oversells_whatever_the_faults(seed, faults, seats, buyers, lease_ms, loss, duplicate,
                                                          capacity, breaker):
    r = run(seed=seed, inventory="reservation", faults=faults, seats=seats, buyers=buyers, lease_ms=lease_ms,
            loss=loss, duplicate=duplicate, capacity=capacity, breaker=breaker, arrival_window_ms=1500)
    m = r.metrics
    assert m["oversold"] == 0 and m["sold"] <= seats
    assert sum(rec.outcome == "sold" for rec in r.buyers) <= seats
    assert len({hold for _t, hold, _k in r.sales}) == len(r.sales)  # no hold sold twice
    assert all(rec.outcome in OUTCOMES for rec in r.buyers)
    assert min(v for _t, v in r.seats_truth) >= 0
    rs_never_back = any(f.startswith("crash:rs@") and "-" not in f for f in faults.split(";"))
    if not rs_never_back:
        assert m["stranded_reservations"] == 0
        assert m["sold"] + m["leases_expired"] == m["holds_created"]


@pytest.mark.parametrize("seed", SEEDS)
def test_eventual_oversells_when_demand_exceeds_supply(seed):
    r = run(seed=seed, inventory="eventual")
    assert r.metrics["oversold"] > 0
    assert r.metrics["oversold"] == r.metrics["oversold_buyers"]  # each one a buyer holding a phantom seat
    assert min(v for _t, v in r.seats_truth) < 0
    assert r.metrics["replicas_converged"]
    # Every replica ends up knowing the truth, and it is negative: they learn they oversold.
    assert all(series[-1][1] == r.seats_truth[-1][1] for series in r.seats_believed.values())


@pytest.mark.parametrize("seed", SEEDS)
def test_eventual_does_not_oversell_when_demand_is_below_supply(seed):
    r = run(seed=seed, inventory="eventual", seats=50, buyers=40, arrival_window_ms=20_000)
    assert r.metrics["oversold"] == 0 and r.metrics["sold_out_rejections"] == 0


@pytest.mark.parametrize("seed", SEEDS)
def test_eventual_with_slow_arrivals_keeps_up_even_near_the_limit(seed):
    # A buyer every ~2 s and sync every 100 ms: replicas hear every sale long before the next buyer.
    r = run(seed=seed, inventory="eventual", seats=10, buyers=14, arrival_window_ms=30_000, arrival="uniform",
            abandon=0, payment_failure=0)
    assert r.metrics["oversold"] == 0 and r.metrics["sold"] == 10


@pytest.mark.parametrize("inventory", ["eventual", "reservation"])
@pytest.mark.parametrize("seed", SEEDS)
def test_no_stranded_reservations_at_the_end(inventory, seed):
    faults = "crash:rs@400-1200" if inventory == "reservation" else "crash:r1@400-1200;A|B@200-900"
    for kw in ({}, {"faults": faults, "loss": 0.05}):
        r = run(seed=seed, inventory=inventory, **kw)
        # Every hold ended one of the two ways: bought, or expired and released.
        assert r.metrics["stranded_reservations"] == 0
        assert r.metrics["sold"] + r.metrics["leases_expired"] == r.metrics["holds_created"] > 0


def test_a_service_that_never_comes_back_strands_its_holds_but_still_never_oversells():
    r = run(seed=2, inventory="reservation", faults="crash:rs@600")
    assert r.metrics["stranded_reservations"] > 0 and r.metrics["oversold"] == 0


def test_leases_expire_and_seats_return_to_sale():
    r = run(seed=3, inventory="reservation", seats=10, buyers=80, abandon=0.5, lease_ms=300,
            arrival_window_ms=6000)
    m = r.metrics
    assert m["leases_expired"] > 0 and m["stranded_reservations"] == 0
    assert m["sold"] == 10  # abandoned seats were sold again to later buyers
    # Someone was told "sold out" (every seat sold or held), yet buyers who came
    # later still bought: their seats came back from expired leases.
    first_sold_out = min(rec.decision_ms for rec in r.buyers if rec.outcome == "sold-out")
    assert any(rec.outcome == "sold" and rec.arrival_ms > first_sold_out for rec in r.buyers)
    assert any(v > 0 for t, v in r.seats_available["rs"] if t > first_sold_out)


def test_paying_after_the_lease_is_refused_and_refunded():
    r = run(seed=1, inventory="reservation", lease_ms=150, payment_ms="lognormal:200,0.5", abandon=0,
            payment_failure=0, seats=30, buyers=60)
    m = r.metrics
    assert m["confirms_after_expiry"] > 0 and m["oversold"] == 0
    late = [rec for rec in r.buyers if rec.outcome == "expired"]
    # Only slow payers: paying took most of the lease (the rest went on two one-way trips).
    assert late and all(rec.pay_end_ms - rec.pay_start_ms > 150 - 100 for rec in late)


@pytest.mark.parametrize("seed", range(3))
def test_retried_and_duplicated_confirms_sell_once(seed):
    r = run(seed=seed, inventory="reservation", loss=0.1, duplicate=0.3, timeout_ms=150, retries=4)
    holds = [hold for _t, hold, _k in r.sales]
    buyers = [key for _t, _h, key in r.sales]
    assert len(set(holds)) == len(holds) and len(set(buyers)) == len(buyers)
    assert r.metrics["oversold"] == 0


# -- the cost: latency, overload, and the breaker -----------------------------------------

@pytest.mark.parametrize("seed", SEEDS)
def test_reservation_costs_latency(seed):
    e = run(seed=seed, inventory="eventual").metrics
    r = run(seed=seed, inventory="reservation").metrics
    assert r["buyer_latency_p99_ms"] > 2 * e["buyer_latency_p99_ms"]
    assert r["buyer_latency_p50_ms"] > e["buyer_latency_p50_ms"]


def test_breaker_opens_under_overload_and_fails_fast():
    overload = dict(seed=0, inventory="reservation", buyers=2000, arrival_window_ms=300, capacity=1,
                    service_ms="5", queue_limit=20)
    on = run(**overload)
    assert on.metrics["breaker_trips"] > 0 and on.metrics["rejected_fast"] > 0
    assert on.metrics["oversold"] == 0
    assert any(to == "open" for _t, _w, _from, to in on.breaker_transitions)
    fast = [rec.latency_ms for rec in on.buyers if rec.outcome == "failed-fast"]
    assert max(fast) == 0.0  # no network round trip at all
    off = run(**{**overload, "breaker": False})
    assert off.metrics["rejected_fast"] == 0 and off.metrics["breaker_trips"] == 0
    assert off.metrics["service_overloaded"] > on.metrics["service_overloaded"]


def test_breaker_also_trips_on_timeouts_of_a_crashed_service():
    r = run(seed=4, inventory="reservation", faults="crash:rs@300-1500")
    assert r.metrics["timeouts"] > 0 and r.metrics["rejected_fast"] > 0 and r.metrics["oversold"] == 0


# -- determinism, result data and errors ------------------------------------------------------

@pytest.mark.parametrize("inventory", ["eventual", "reservation"])
def test_same_seed_same_run_and_different_seeds_differ(inventory):
    kw = dict(inventory=inventory, faults="A|B@300-900", loss=0.05)
    a, b, c = run(seed=5, **kw), run(seed=5, **kw), run(seed=6, **kw)
    assert a.trace_digest == b.trace_digest and a.metrics == _nan_safe(b.metrics, a.metrics)
    assert [(x.outcome, x.decision_ms) for x in a.buyers] == [(x.outcome, x.decision_ms) for x in b.buyers]
    assert a.trace_digest != c.trace_digest and a.metrics != c.metrics


def _nan_safe(m: dict, like: dict) -> dict:
    """``m`` with NaNs replaced by the same objects as in ``like`` (NaN != NaN)."""
    return {k: like[k] if isinstance(v, float) and math.isnan(v) else v for k, v in m.items()}


def test_result_carries_buyer_records_and_series():
    r = run(seed=0, inventory="eventual", trace=True)
    assert len(r.buyers) == 200 and r.trace
    assert set(r.seats_believed) == {"r0", "r1", "r2"}
    assert sum(r.outcome_counts().values()) == 200
    assert r.outcome_counts()["oversold"] == r.metrics["oversold_buyers"] > 0
    for rec in r.buyers:
        assert rec.decision_ms >= rec.arrival_ms
    json = r.to_json()
    assert json["scenario"] == "tickets" and json["metrics"]["oversold"] == r.metrics["oversold"]
    res = run(seed=0, inventory="reservation")
    assert set(res.seats_believed) == {"rs"} and res.seats_truth[0] == (0.0, 50)


@pytest.mark.parametrize("params,message", [
    ({"seats": 0}, "seats=0 must be an integer between 1 and 100000"),
    ({"buyers": -3}, "buyers=-3 must be an integer between 1 and 100000"),
    ({"inventory": "strong"}, "inventory='strong' must be one of eventual, reservation"),
    ({"payment_failure": 1.5}, "payment_failure=1.5 must be a number between 0 and 1"),
    ({"lease_ms": 0}, "lease_ms=0 must be a number between 1 and"),
    ({"replicas": 9}, "replicas=9 must be an integer between 1 and 8"),
    ({"payment_ms": "soon"}, "payment_ms='soon'"),
    ({"faults": "crash:r1@100-200"}, "crash of unknown node 'r1' with inventory=reservation"),
    ({"inventory": "eventual", "faults": "crash:rs@100"}, "crash of unknown node 'rs' with inventory=eventual"),
    ({"faults": "A|Z@0-100"}, "unknown node or region 'Z'"),
    ({"colour": "red"}, "unknown parameter 'colour'"),
])
def test_bad_params_give_clear_errors(params, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        get_scenario("tickets").run(0, **params)
