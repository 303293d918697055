"""The one validation module: types are checked before values, messages name what is allowed."""

import math
import re

import pytest

from consistency_lab import validation as v
from consistency_lab.latency import (
    Constant, Empirical, Exponential, LogNormal, Mixture, Pareto, Shifted, Uniform, parse_latency,
)
from consistency_lab.network import NetworkOptions


@pytest.mark.parametrize("build, message", [
    (lambda: Constant("5"), r"ms='5' must be a finite number >= 0 ms"),
    (lambda: Uniform("1", 2), r"low='1' must be"),
    (lambda: Uniform(1, None), r"high=None must be"),
    (lambda: Exponential("x"), r"rate='x' must be a finite number > 0 per ms"),
    (lambda: LogNormal([1], 0.2), r"median=\[1\] must be"),
    (lambda: LogNormal(1, "a"), r"sigma='a' must be"),
    (lambda: Pareto(None, 1), r"xm=None must be"),
    (lambda: Pareto(1, "2"), r"alpha='2' must be"),
    (lambda: Mixture("ab"), r"parts='ab' must be at least one \(weight, distribution\) pair"),
    (lambda: Mixture(((1, 2),)), r"distribution=2 must be a latency distribution"),
    (lambda: Mixture((("a", Constant(1)),)), r"weight='a' must be"),
    (lambda: Empirical(("1",)), r"sample='1' must be"),
    (lambda: Empirical(5), r"samples=5 must be a non-empty sequence"),
    (lambda: Shifted(Constant(1), "2"), r"offset='2' must be"),
    (lambda: Shifted(3, 1), r"base=3 must be a latency distribution"),
    (lambda: NetworkOptions(loss="0.5"), r"loss='0.5' must be a probability between 0 and 1"),
    (lambda: NetworkOptions(duplicate=True), r"duplicate=True must be a probability"),
    (lambda: NetworkOptions(reorder=[0.1]), r"reorder=\[0.1\] must be a probability"),
    (lambda: parse_latency(None), r"latency=None must be a number of ms"),
])
def test_every_validator_raises_the_intended_value_error(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("bad", ["3", 2.5, True, None, 0, 11])
def test_count(bad):
    with pytest.raises(ValueError, match=rf"n={bad!r} must be an integer between 1 and 10"):
        v.count("n", bad, 1, 10)


def test_count_without_an_upper_bound_and_with_a_unit():
    assert v.count("n", 10**9) == 10**9
    with pytest.raises(ValueError, match=r"n=0 must be an integer >= 1 keys"):
        v.count("n", 0, unit="keys")


@pytest.mark.parametrize("bad", [math.nan, math.inf, "1", None, True, -1])
def test_non_negative_and_positive_refuse_nan_inf_text_and_bool(bad):
    with pytest.raises(ValueError, match=r"must be a finite number >= 0 ms"):
        v.non_negative("t", bad, "ms")
    with pytest.raises(ValueError, match=r"must be a finite number > 0 ms"):
        v.positive("t", bad, "ms")


def test_infinity_only_where_allowed():
    assert v.positive("ttl", math.inf, "ms", allow_inf=True) == math.inf
    assert v.number("x", 5, 0, 10) == 5.0
    with pytest.raises(ValueError, match=r"x=11 must be a finite number between 0 and 10"):
        v.number("x", 11, 0, 10)
    with pytest.raises(ValueError, match=r"x=-1 must be a finite number >= 0"):
        v.number("x", -1, low=0)


def test_choice_text_and_boolean():
    assert v.choice("mode", "a", ("a", "b")) == "a"
    with pytest.raises(ValueError, match=r"mode='c' must be one of a, b"):
        v.choice("mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match=r"mode=\[\] must be one of a, b"):
        v.choice("mode", [], ("a", "b"))  # unhashable input: still the intended message
    with pytest.raises(ValueError, match=r"name='' must be a non-empty string"):
        v.text("name", "")
    with pytest.raises(ValueError, match=r"atomic=1 must be True or False"):
        v.boolean("atomic", 1)


# -- the helpers added for "None or ..." and for argparse ---------------------------------------

def test_optional_accepts_none_and_says_what_none_means():
    assert v.optional(v.positive, "retention_ms", None, "ms") is None
    assert v.optional(v.count, "capacity", 3) == 3
    with pytest.raises(ValueError,
                       match=r"^retention_ms='5' must be None \(keep everything\) or a finite number > 0 ms$"):
        v.optional(v.positive, "retention_ms", "5", "ms", none_means="keep everything")
    with pytest.raises(ValueError, match=r"^version=True must be None or an integer >= 1$"):
        v.optional(v.count, "version", True)


def test_argparse_type_converts_then_checks_and_shows_what_was_typed():
    import argparse

    jobs = v.argparse_type(v.count, "jobs", int)
    assert jobs("4") == 4
    for typed in ["0", "2.5", "four", ""]:
        with pytest.raises(argparse.ArgumentTypeError, match=rf"^jobs={re.escape(typed)} must be an integer >= 1$"):
            jobs(typed)
    timeout = v.argparse_type(v.positive, "timeout", float, "seconds")
    assert timeout("0.5") == 0.5
    for typed in ["-1", "nan", "inf", "1s"]:
        with pytest.raises(argparse.ArgumentTypeError, match=rf"^timeout={typed} must be a finite number > 0 seconds$"):
            timeout(typed)


# -- every public constructor and function that moved onto this module ---------------------------
# A wrong type (text where a number belongs, True where a count belongs) must give the course's
# ValueError naming the parameter, never a TypeError from a comparison deep inside.

def _reducer(state, event):
    return (state or 0) + 1


class _Reconciler:
    def keys(self):
        return []

    def expected(self, key):
        return None

    def actual(self, key):
        return None

    def repair(self, key, value):
        pass


def _world():
    from consistency_lab.network import Network
    from consistency_lab.sim import Simulation
    from consistency_lab.streams.log import EventLog

    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("t", 1)
    return sim, Network(sim), log


def _wrong_typed_calls():
    from consistency_lab.patterns.circuit_breaker import CircuitBreaker
    from consistency_lab.patterns.cqrs import Projection, VersionToken
    from consistency_lab.patterns.delivery import at_least_once, cart_events, deliver, payment_events
    from consistency_lab.patterns.idempotency import (CrashPoint, DedupeHandler, IdempotencyStore, NaiveHandler,
                                                      make_handler)
    from consistency_lab.patterns.outbox import OutboxService
    from consistency_lab.patterns.reconciliation import ReconciliationDaemon
    from consistency_lab.patterns.reservations import ReservationBook, ReservationService
    from consistency_lab.patterns.saga import SagaOrchestrator, SagaParticipant, SagaStep
    from consistency_lab.real.sqlite_race import run_sqlite_race
    from consistency_lab.streams.log import Event, EventLog, Producer, Topic

    def world(build):
        return lambda: build(*_world())

    def daemon(**kw):
        return world(lambda sim, net, log: ReconciliationDaemon(sim, _Reconciler(), **{
            "interval_ms": 10, "page_size": 5, **kw}))

    return [
        # patterns/circuit_breaker.py
        ("failure_threshold", lambda: CircuitBreaker(failure_threshold=True)),
        ("open_ms", lambda: CircuitBreaker(open_ms="500")),
        ("half_open_max_calls", lambda: CircuitBreaker(half_open_max_calls="1")),
        # patterns/cqrs.py
        ("timeout_ms", world(lambda sim, net, log: Projection(sim, _reducer).read_after(
            VersionToken("k", 1), lambda result: None, timeout_ms="10"))),
        # patterns/delivery.py
        ("carts", lambda: cart_events(0, carts="5")),
        ("events_per_cart", lambda: cart_events(0, events_per_cart=True)),
        ("payments", lambda: payment_events(0, payments="10")),
        ("accounts", lambda: payment_events(0, accounts=True)),
        ("duplicate", lambda: at_least_once([], 0, duplicate="0.1")),
        ("reorder", lambda: at_least_once([], 0, reorder=True)),
        ("window", lambda: at_least_once([], 0, window="4")),
        ("max_redeliveries", lambda: deliver(NaiveHandler(_reducer), [], max_redeliveries="3")),
        # patterns/idempotency.py
        ("capacity", lambda: IdempotencyStore(capacity=True)),
        ("ttl_ms", lambda: IdempotencyStore(ttl_ms="5")),
        ("capacity", lambda: DedupeHandler(_reducer, capacity="10")),
        ("probability", lambda: CrashPoint(probability="0.5")),
        ("restart_after_ms", lambda: CrashPoint(restart_after_ms="5")),
        ("atomic", lambda: NaiveHandler(_reducer, atomic="yes")),
        ("handler", lambda: make_handler(["naive"], _reducer)),
        # patterns/outbox.py
        ("mode", world(lambda sim, net, log: OutboxService(sim, log, "t", mode=1))),
        ("relay_interval_ms", world(lambda sim, net, log: OutboxService(sim, log, "t", relay_interval_ms="10"))),
        ("relay_batch", world(lambda sim, net, log: OutboxService(sim, log, "t", relay_batch=True))),
        ("crash_after_write", world(lambda sim, net, log: OutboxService(sim, log, "t", crash_after_write="0.1"))),
        ("restart_after_ms", world(lambda sim, net, log: OutboxService(sim, log, "t", restart_after_ms="5"))),
        ("restart_after_ms", world(lambda sim, net, log: OutboxService(sim, log, "t").crash("5"))),
        # patterns/reconciliation.py
        ("interval_ms", daemon(interval_ms="10")),
        ("page_size", daemon(page_size=True)),
        ("min_age_ms", daemon(min_age_ms="0")),
        ("start_after_ms", world(lambda sim, net, log: ReconciliationDaemon(
            sim, _Reconciler(), interval_ms=10, page_size=5).start("5"))),
        ("items", world(lambda sim, net, log: ReconciliationDaemon(
            sim, _Reconciler(), interval_ms=10, page_size=5).convergence_bound_ms("3"))),
        # patterns/reservations.py
        ("seats", lambda: ReservationBook(True, 100)),
        ("lease_ms", lambda: ReservationBook(3, "100")),
        ("seats", world(lambda sim, net, log: ReservationService("rs", sim, net, seats="3", lease_ms=100))),
        ("capacity", world(lambda sim, net, log: ReservationService("rs", sim, net, seats=3, lease_ms=100,
                                                                    capacity="2"))),
        ("queue_limit", world(lambda sim, net, log: ReservationService("rs", sim, net, seats=3, lease_ms=100,
                                                                       queue_limit=True))),
        # patterns/saga.py
        ("fail_rate", world(lambda sim, net, log: SagaParticipant("p", sim, net, fail_rate="0.1"))),
        ("timeout_ms", world(lambda sim, net, log: SagaOrchestrator("o", sim, net, timeout_ms="50"))),
        ("max_attempts", world(lambda sim, net, log: SagaOrchestrator("o", sim, net, max_attempts=True))),
        ("max_compensation_attempts", world(lambda sim, net, log: SagaOrchestrator(
            "o", sim, net, max_compensation_attempts="20"))),
        ("saga_id", world(lambda sim, net, log: (SagaParticipant("p", sim, net), SagaOrchestrator(
            "o", sim, net).start_saga(5, (SagaStep("a", "p"),))))),
        # streams/log.py
        ("event_id", lambda: Event(5, "k", "T")),
        ("type", lambda: Event("e1", "k", None)),
        ("version", lambda: Event("e1", "k", "T", version=True)),
        ("version", lambda: Event("e1", "k", "T", version="1")),
        ("topic", lambda: Topic(3)),
        ("partitions", lambda: Topic("t", partitions="2")),
        ("retention_count", lambda: Topic("t", retention_count=True)),
        ("retention_ms", lambda: Topic("t", retention_ms="5")),
        ("partitions", world(lambda sim, net, log: log.create_topic("u", partitions=True))),
        ("name", world(lambda sim, net, log: EventLog(sim, name=5))),
        ("name", world(lambda sim, net, log: Producer(sim, log, "t", name=5))),
        ("loss", world(lambda sim, net, log: Producer(sim, log, "t", loss="0.1"))),
        # sqlite_race.py (each is refused before any thread or file is made)
        ("strategy", lambda: run_sqlite_race(5)),
        ("seats", lambda: run_sqlite_race("read-then-write", seats="5")),
        ("buyers", lambda: run_sqlite_race("read-then-write", buyers=True)),
        ("threads", lambda: run_sqlite_race("read-then-write", threads="2")),
        ("seed", lambda: run_sqlite_race("read-then-write", seed=True)),
        ("db_path", lambda: run_sqlite_race("read-then-write", db_path=5)),
    ]


@pytest.mark.parametrize("name, call", _wrong_typed_calls(),
                         ids=[f"{i}-{name}" for i, (name, _) in enumerate(_wrong_typed_calls())])
def test_wrong_types_give_a_value_error_naming_the_parameter(name, call):
    with pytest.raises(ValueError, match=rf"^{name}=\S+ must be "):
        call()


@pytest.mark.parametrize("argv, message", [
    (["simulate", "register", "--seed", "True"], "argument --seed: seed=True must be an integer >= 0"),
    (["simulate", "register", "--seed", "1.5"], "argument --seed: seed=1.5 must be an integer >= 0"),
    (["grade", "x.ipynb", "--out", "o", "--jobs", "two"], "argument --jobs: jobs=two must be an integer >= 1"),
    (["grade", "x.ipynb", "--out", "o", "--timeout", "1m"],
     "argument --timeout: timeout=1m must be a finite number >= 1 seconds"),
    (["grade", "x.ipynb", "--out", "o", "--max-time", "0.5"],
     "argument --max-time: max-time=0.5 must be a finite number >= 1 seconds"),
    (["check", "h.jsonl", "--timeout", "soon"], "argument --timeout: timeout=soon must be a finite number > 0 seconds"),
])
def test_command_line_types_give_one_line_and_exit_code_2(argv, message, capsys):
    from consistency_lab.cli import main

    with pytest.raises(SystemExit) as info:
        main(argv)
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert err.strip().splitlines() == [f"consistency-lab {argv[0]}: error: {message}"]
