"""Outbox, CQRS projections, the reconciliation daemon and sagas."""

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consistency_lab.network import Network, NetworkOptions
from consistency_lab.patterns import (Command, CommandSide, OutboxService, Projection, ReconciliationDaemon,
                                      Rejected, SagaOrchestrator, SagaParticipant, SagaStep, fold_log, saga_metrics)
from consistency_lab.sim import Simulation
from consistency_lab.streams import ConsumerGroup, EventLog, Lineage

# -- outbox ---------------------------------------------------------------------------------


def run_outbox(mode, seed=0, writes=300, crash=0.05):
    sim = Simulation(seed)
    log = EventLog(sim)
    log.create_topic("orders", 2)
    service = OutboxService(sim, log, "orders", name="orders", mode=mode, publish_latency="exp:3",
                            crash_after_write=crash, restart_after_ms=20)
    for i in range(writes):
        sim.schedule(i * 2.0, service.write, f"order{i % 40}", "OrderPlaced", {"n": i})
    sim.run(until=writes * 2.0 + 1_000)
    return service


@pytest.mark.parametrize("seed", range(5))
def test_outbox_loses_nothing_and_write_then_publish_loses_events(seed):
    outbox = run_outbox("outbox", seed)
    naive = run_outbox("write_then_publish", seed)
    assert outbox.crashes > 0 and naive.crashes > 0
    assert outbox.stats()["lost_events"] == 0 and outbox.pending() == 0
    assert outbox.stats()["published"] == outbox.stats()["writes"]
    assert naive.stats()["lost_events"] > 0
    assert naive.stats()["lost_events"] == naive.stats()["writes"] - naive.stats()["published"]


def test_outbox_publishes_again_after_a_crash_between_append_and_ack():
    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("t", 1)
    service = OutboxService(sim, log, "t", relay_interval_ms=10, publish_latency=5)
    service.write("k", "Changed", {"v": 1})
    sim.schedule(17, service.crash, 1)  # the broker appended at 15, the ack would arrive at 20
    sim.run(until=100)
    assert service.stats() == {"writes": 1, "published": 1, "duplicates_on_log": 1, "lost_events": 0,
                               "pending": 0, "crashes": 1}


def test_outbox_refuses_writes_while_down_and_checks_parameters():
    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("t", 1)
    service = OutboxService(sim, log, "t")
    service.crash()
    assert service.write("k", "T") is None and service.stats()["writes"] == 0
    with pytest.raises(ValueError, match="mode='later' must be one of outbox, write_then_publish"):
        OutboxService(sim, log, "t", mode="later")
    with pytest.raises(ValueError, match="relay_interval_ms=-1 must be a number > 0 ms"):
        OutboxService(sim, log, "t", relay_interval_ms=-1)


# -- CQRS -------------------------------------------------------------------------------------

def decide(state, command):
    balance = state or 0
    amount = command.payload["amount"]
    if command.type == "Withdraw" and amount > balance:
        raise Rejected(f"insufficient funds: balance {balance}, asked {amount}")
    return [("Deposited" if command.type == "Deposit" else "Withdrawn", {"amount": amount})]


def evolve(state, event):
    sign = 1 if event.type == "Deposited" else -1
    return (state or 0) + sign * event.payload["amount"]


def bank(seed, partitions=3, duplicate=0.0, crash=0.0):
    sim = Simulation(seed)
    log = EventLog(sim)
    log.create_topic("accounts", partitions)
    commands = CommandSide(sim, log, "accounts", decide, evolve)
    projection = Projection(sim, evolve)
    group = ConsumerGroup(sim, log, "accounts", projection, consumers=2, processing_time="exp:5",
                          duplicate=duplicate, crash_before_commit=crash, restart_after_ms=10,
                          session_timeout_ms=20)
    return sim, log, commands, projection, group


def test_command_side_accepts_or_rejects_at_once():
    sim, log, commands, projection, group = bank(0)
    ok = commands.execute(Command("Deposit", "alice", {"amount": 10}))
    no = commands.execute(Command("Withdraw", "alice", {"amount": 50}))
    assert ok.accepted and ok.token.version == 1 and len(ok.events) == 1
    assert not no.accepted and no.reason == "insufficient funds: balance 10, asked 50" and no.token is None
    assert commands.state == {"alice": 10} and len(log.topic("accounts")) == 1


@given(seed=st.integers(0, 10_000), duplicate=st.floats(0, 0.3), crash=st.floats(0, 0.2),
       ops=st.lists(st.tuples(st.sampled_from(["Deposit", "Withdraw"]), st.integers(0, 5), st.integers(1, 20)),
                    min_size=1, max_size=40))
def test_projection_equals_fold_of_log_and_rebuild_after_quiescence(seed, duplicate, crash, ops):
    sim, log, commands, projection, group = bank(seed, duplicate=duplicate, crash=crash)
    for i, (kind, account, amount) in enumerate(ops):
        sim.schedule(i * 1.0, commands.execute, Command(kind, f"acct{account}", {"amount": amount}))
    sim.run(until=len(ops) + 5_000)
    assert group.idle()
    assert projection.state == fold_log(log, "accounts", evolve) == commands.state
    rebuilt = Projection.rebuild(sim, log, "accounts", evolve)
    assert rebuilt.state == projection.state


def test_read_your_writes_waits_for_the_version_token():
    sim, log, commands, projection, group = bank(1)
    answers = []
    token = commands.execute(Command("Deposit", "bob", {"amount": 7})).token
    assert projection.read("bob") is None  # the read model is behind right after the write
    projection.read_after(token, answers.append, timeout_ms=1_000)
    sim.run(until=1_000)
    (answer,) = answers
    assert answer.fresh and answer.value == 7 and answer.version == 1 and answer.waited_ms > 0


def test_read_after_times_out_when_the_projection_stalls():
    sim, log, commands, projection, group = bank(2)
    group.crash("group-0")
    group.crash("group-1")
    answers = []
    token = commands.execute(Command("Deposit", "carol", {"amount": 3})).token
    projection.read_after(token, answers.append, timeout_ms=50)
    sim.run(until=500)
    assert len(answers) == 1 and not answers[0].fresh and answers[0].waited_ms == 50


# -- reconciliation ------------------------------------------------------------------------------

class DictReconciler:
    """Source of truth and derived copy as two dicts; every repair is counted."""

    def __init__(self, n):
        self.source = {f"item{i:03d}": 0 for i in range(n)}
        self.derived = dict(self.source)
        self.writes = 0

    def keys(self):
        return list(self.source)

    def expected(self, key):
        return self.source[key]

    def actual(self, key):
        return self.derived.get(key)

    def repair(self, key, value):
        self.writes += 1
        self.derived[key] = value


@given(n=st.integers(1, 60), page=st.integers(1, 25), interval=st.floats(1, 100),
       drift=st.lists(st.tuples(st.floats(0, 500), st.integers(0, 59), st.integers(1, 9)), max_size=30))
def test_daemon_converges_within_its_bound_after_the_last_drift(n, page, interval, drift):
    sim = Simulation(0)
    rec = DictReconciler(n)
    daemon = ReconciliationDaemon(sim, rec, interval_ms=interval, page_size=page)
    daemon.start()
    last = 0.0
    for t, i, value in drift:
        key = f"item{i % n:03d}"
        sim.schedule(t, rec.derived.__setitem__, key, value)  # the derived copy silently drifts
        last = max(last, t)
    bound = daemon.convergence_bound_ms()
    assert bound == math.ceil(n / page) * interval
    sim.run(until=last + bound + 1e-6)
    assert rec.derived == rec.source
    assert all(p.scanned <= page for p in daemon.passes)


@given(n=st.integers(1, 40), page=st.integers(1, 10), changes=st.lists(st.integers(0, 39), max_size=40))
def test_daemon_repairs_nothing_without_drift(n, page, changes):
    sim = Simulation(0)
    rec = DictReconciler(n)
    daemon = ReconciliationDaemon(sim, rec, interval_ms=10, page_size=page)
    daemon.start()

    def change(i, value):  # the truth changes and the derived copy follows in the same instant
        key = f"item{i % n:03d}"
        rec.source[key] = rec.derived[key] = value

    for t, i in enumerate(changes):
        sim.schedule(t * 3.0, change, i, t)
    sim.run(until=1_000)
    report = daemon.report()
    assert report["repairs"] == 0 and report["false_repairs"] == 0 and rec.writes == 0 and report["passes"] > 0


def test_false_repairs_are_counted_and_grace_period_avoids_them():
    class Lagging(DictReconciler):
        """The derived copy catches up 30 ms after each change (a lagging consumer)."""

        def __init__(self, sim, n):
            super().__init__(n)
            self.sim = sim
            self.changed = dict.fromkeys(self.source, 0.0)
            self.pending = {}

        def change(self, key, value):
            self.source[key] = value
            self.changed[key] = self.sim.now
            self.pending[key] = value
            self.sim.schedule(30, self.catch_up, key, value)

        def catch_up(self, key, value):
            self.derived[key] = value
            self.pending.pop(key, None)

        def changed_at(self, key):
            return self.changed[key]

        def would_converge(self, key):
            return self.pending.get(key) == self.source[key]

    def run(grace):
        sim = Simulation(0)
        rec = Lagging(sim, 10)
        daemon = ReconciliationDaemon(sim, rec, interval_ms=5, page_size=10, min_age_ms=grace)
        daemon.start()
        for t in range(20):
            sim.schedule(t * 7.0, rec.change, f"item{t % 10:03d}", t + 1)
        sim.run(until=400)
        assert rec.derived == rec.source
        return daemon.report()

    eager, patient = run(0.0), run(40.0)
    assert eager["false_repairs"] == eager["repairs"] > 0
    assert patient["repairs"] == 0 and patient["deferred"] > 0


def test_daemon_rejects_bad_parameters():
    sim = Simulation(0)
    rec = DictReconciler(3)
    with pytest.raises(ValueError, match="interval_ms=-5 must be a finite number > 0 ms"):
        ReconciliationDaemon(sim, rec, interval_ms=-5, page_size=1)
    with pytest.raises(ValueError, match="page_size=0 must be an integer >= 1 items per pass"):
        ReconciliationDaemon(sim, rec, interval_ms=5, page_size=0)
    with pytest.raises(ValueError, match=r"has no keys\(\) method; it must provide keys, expected, actual and repair"):
        ReconciliationDaemon(sim, object(), interval_ms=5, page_size=1)
    with pytest.raises(ValueError, match=re.escape("min_age_ms > 0 needs a reconciler (or judge) with changed_at")):
        ReconciliationDaemon(sim, rec, interval_ms=5, page_size=1, min_age_ms=10)


# -- sagas ------------------------------------------------------------------------------------------

STEPS = (SagaStep("reserve", "inventory"), SagaStep("charge", "payments"), SagaStep("ship", "shipping"))


def run_sagas(seed, *, loss=0.2, duplicate=0.3, fail=0.3, sagas=40, crash_orchestrator=True):
    sim = Simulation(seed)
    net = Network(sim, NetworkOptions(latency="exp:5", loss=loss, duplicate=duplicate, reorder=0.2))
    parts = [SagaParticipant("inventory", sim, net), SagaParticipant("payments", sim, net, fail_rate=fail),
             SagaParticipant("shipping", sim, net, fail_rate=fail / 2)]
    orch = SagaOrchestrator("orders", sim, net, timeout_ms=30, max_attempts=3, max_compensation_attempts=50)
    for i in range(sagas):
        sim.schedule(i * 10.0, orch.start_saga, f"order{i}", STEPS)
    if crash_orchestrator:
        sim.schedule(150, orch.crash)
        sim.schedule(260, orch.restart)
    sim.run(until=60_000)
    return orch, parts


@pytest.mark.parametrize("seed", range(6))
def test_compensations_take_effect_at_most_once_per_step(seed):
    orch, parts = run_sagas(seed)
    m = saga_metrics(orch, parts)
    assert m["unfinished"] == 0 and m["stuck"] == 0
    assert m["max_compensations_per_step"] <= 1 and m["max_effects_per_step"] <= 1
    assert m["duplicates_suppressed"] > 0 and m["retries"] > 0
    for record in orch.sagas.values():
        for i, step in enumerate(record.steps):
            key = SagaOrchestrator.idem_key(record, i)
            part = next(p for p in parts if p.name == step.participant)
            effect = part.do_effects.get(key, 0) - part.undo_effects.get(key, 0)
            # A completed saga keeps every effect; a compensated one keeps none.
            assert effect == (1 if record.status == "completed" else 0), (record, step)


def test_compensation_rate_metric():
    orch, parts = run_sagas(3)
    m = saga_metrics(orch, parts)
    finished = [r for r in orch.sagas.values() if r.finished]
    expected = sum(r.status == "compensated" for r in finished) / len(finished)
    assert m["compensation_rate"] == pytest.approx(expected) and 0 < expected < 1
    assert saga_metrics(*run_sagas(0, fail=0.0, loss=0.0, duplicate=0.0))["compensation_rate"] == 0.0
    assert saga_metrics(*run_sagas(0, fail=1.0))["compensation_rate"] == 1.0


def test_a_retried_refused_step_is_still_refused_with_its_reason():
    # Loss makes the orchestrator retry; the participant answers a retry with the stored outcome.
    orch, parts = run_sagas(2, loss=0.3, duplicate=0.5, fail=1.0, crash_orchestrator=False)
    assert sum(p.duplicates_suppressed for p in parts) > 0
    reasons = {r.reason for r in orch.sagas.values() if r.status == "compensated"}
    assert reasons <= {"refused", "no answer"} and "refused" in reasons


def test_saga_rejects_bad_input():
    sim = Simulation(0)
    net = Network(sim)
    orch = SagaOrchestrator("orders", sim, net)
    SagaParticipant("inventory", sim, net)
    with pytest.raises(ValueError, match="step names"):
        orch.start_saga("s1", (SagaStep("a", "inventory"), SagaStep("a", "inventory")))
    with pytest.raises(ValueError, match="unknown node or region 'nobody'"):
        orch.start_saga("s2", (SagaStep("a", "nobody"),))
    with pytest.raises(ValueError, match="timeout_ms=0 must be a number > 0 ms"):
        SagaOrchestrator("o2", sim, net, timeout_ms=0)
    with pytest.raises(ValueError, match="fail_rate=1.5 must be a probability"):
        SagaParticipant("p2", sim, net, fail_rate=1.5)


def test_lineage_records_repairs_of_named_events():
    sim = Simulation(0)
    lineage = Lineage(sim)
    rec = DictReconciler(2)
    rec.explain = lambda key: [f"evt-{key}"]
    rec.derived["item001"] = 5
    daemon = ReconciliationDaemon(sim, rec, interval_ms=10, page_size=2, lineage=lineage)
    daemon.run_pass()
    assert lineage.journey("evt-item001").step_names() == ["repaired"]
