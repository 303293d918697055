"""The event log and consumer groups: partitions, offsets, retention, rebalancing, at-least-once."""

import re
import zlib

import pytest

from consistency_lab.patterns.idempotency import CrashPoint, NaiveHandler
from consistency_lab.sim import Simulation
from consistency_lab.streams import (ConsumerGroup, Event, EventLog, LagMonitor, Lineage, Producer, SimulatedCrash,
                                     partition_for, stream_metrics)


class Recorder:
    """A handler that remembers every delivery (and can be told to fail)."""

    def __init__(self, fail_ids=(), fail_times=10**9):
        self.seen = []
        self.fail_ids = set(fail_ids)
        self.fail_times = fail_times
        self.failures = {}

    def handle(self, event):
        if event.event_id in self.fail_ids and self.failures.get(event.event_id, 0) < self.fail_times:
            self.failures[event.event_id] = self.failures.get(event.event_id, 0) + 1
            raise RuntimeError(f"poison {event.event_id}")
        self.seen.append(event.event_id)


def setup(seed=0, partitions=3, **group_kw):
    sim = Simulation(seed)
    lineage = Lineage(sim)
    log = EventLog(sim, lineage=lineage)
    log.create_topic("t", partitions)
    handler = group_kw.pop("handler", None) or Recorder()
    group = ConsumerGroup(sim, log, "t", handler, lineage=lineage, **group_kw)
    producer = Producer(sim, log, "t", name="p", lineage=lineage)
    return sim, log, group, producer, handler, lineage


def test_event_defaults_validation_and_identity():
    e = Event("e1", "k", "Created", {"a": 1}, version=1)
    assert e.correlation_id == "e1" and e.causation_id == ""
    child = e.caused("e2", "k2", "Followed")
    assert (child.correlation_id, child.causation_id) == ("e1", "e1")
    assert hash(e) == hash("e1") and e == Event("e1", "k", "Created", {"a": 1}, version=1)
    with pytest.raises(TypeError):
        e.payload["a"] = 2  # payloads are read-only
    with pytest.raises(ValueError, match="version=0 must be None or an integer >= 1"):
        Event("e", "k", "T", version=0)
    with pytest.raises(ValueError, match="event_id='' must be a non-empty string"):
        Event("", "k", "T")


def test_partitioning_is_a_stable_hash_not_pythons_hash():
    assert partition_for("user-42", 8) == zlib.crc32(b"user-42") % 8
    assert [partition_for(f"k{i}", 4) for i in range(6)] == [zlib.crc32(f"k{i}".encode()) % 4 for i in range(6)]


def test_offsets_are_per_partition_and_keys_stay_together():
    sim = Simulation(0)
    log = EventLog(sim)
    topic = log.create_topic("t", 4)
    records = [log.append("t", Event(f"e{i}", f"k{i % 3}", "T")) for i in range(12)]
    for key in ("k0", "k1", "k2"):
        mine = [r for r in records if r.event.key == key]
        assert len({r.partition for r in mine}) == 1
        assert [r.offset for r in mine] == sorted(r.offset for r in mine)
    assert sum(topic.end_offsets()) == 12


def test_retention_by_count_and_by_age():
    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("c", 1, retention_count=3)
    for i in range(5):
        log.append("c", Event(f"e{i}", "k", "T"))
    part = log.topic("c").partitions[0]
    assert (part.base_offset, part.end_offset, part.read(1), part.read(2).event.event_id) == (2, 5, None, "e2")
    log.create_topic("a", 1, retention_ms=100)
    log.append("a", Event("old", "k", "T"))
    sim.run(until=150)
    log.append("a", Event("new", "k", "T"))
    assert [e.event_id for e in log.events("a")] == ["new"]


def test_consumer_skips_records_removed_by_retention():
    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("t", 1, retention_count=2)
    for i in range(5):
        log.append("t", Event(f"e{i}", "k", "T"))
    rec = Recorder()
    group = ConsumerGroup(sim, log, "t", rec)
    sim.run(until=100)
    assert rec.seen == ["e3", "e4"] and group.skipped_by_retention == 3


def test_everything_is_processed_once_without_faults_and_lag_drains():
    sim, log, group, producer, rec, _ = setup(consumers=2, processing_time="exp:2")
    for i in range(50):
        sim.schedule(i, producer.send, f"k{i % 7}", "T")
    monitor = LagMonitor(sim, group, 5)
    sim.run(until=1_000)
    monitor.stop()
    assert sorted(rec.seen) == sorted(f"p-{i}" for i in range(1, 51))
    assert group.idle() and group.lag_offsets() == 0 and group.backlog_age_ms() == 0
    m = stream_metrics(group, monitor, 1_000)
    assert m["duplicate_deliveries"] == 0 and m["lag_offsets_max"] > 0 and m["consumer_lag_p99_s"] > 0


def test_each_key_is_processed_in_append_order():
    sim, log, group, producer, rec, _ = setup(consumers=3, processing_time="exp:1")
    for i in range(60):
        sim.schedule(i * 0.3, producer.send, f"k{i % 5}", "T", {"i": i})
    sim.run(until=1_000)
    order = {}
    for event_id in rec.seen:
        n = int(event_id.split("-")[1]) - 1
        order.setdefault(f"k{n % 5}", []).append(n)
    assert all(seq == sorted(seq) for seq in order.values())
    # Across partitions there is no such promise: some event overtakes an earlier one.
    handled = [int(event_id.split("-")[1]) for event_id in rec.seen]
    assert handled != sorted(handled)


def test_rebalance_is_deterministic_and_follows_membership():
    sim, log, group, producer, rec, _ = setup(partitions=4, consumers=["b", "a"])
    assert group.assignment() == {"b": [1, 3], "a": [0, 2]}
    group.add_consumer("c")
    assert group.assignment() == {"b": [1], "a": [0, 3], "c": [2]}
    group.crash("a")
    assert group.assignment()["a"] == [0, 3]  # kept (and stalled) until the session times out
    sim.run(until=group.session_timeout_ms + 1)
    assert group.assignment() == {"b": [0, 2], "a": [], "c": [1, 3]}
    group.restart("a")
    assert group.assignment() == {"b": [1], "a": [0, 3], "c": [2]}


def test_crash_between_apply_and_commit_redelivers_and_the_test_sees_it():
    sim = Simulation(0)
    lineage = Lineage(sim)
    log = EventLog(sim, lineage=lineage)
    log.create_topic("t", 1)
    handler = NaiveHandler(lambda s, e: (s or 0) + 1, atomic=False,
                           crash_between=CrashPoint(event_ids=["p-3"], restart_after_ms=20))
    group = ConsumerGroup(sim, log, "t", handler, lineage=lineage)
    producer = Producer(sim, log, "t", name="p")
    for _ in range(5):
        producer.send("k", "T")
    sim.run(until=500)
    assert group.redeliveries == 1 and group.crashes == 1
    assert lineage.journey("p-3").step_names()[:4] == ["appended", "delivered", "crashed", "redelivered"]
    assert handler.state == {"k": 6}  # applied before the crash, and again after it: one double count


def test_crash_before_commit_knob_redelivers_records():
    sim, log, group, producer, rec, _ = setup(seed=3, crash_before_commit=0.1, restart_after_ms=10)
    for i in range(200):
        sim.schedule(i, producer.send, f"k{i % 9}", "T")
    sim.run(until=5_000)
    assert group.crashes > 0 and group.redeliveries > 0
    assert len(rec.seen) == 200 + group.redeliveries and len(set(rec.seen)) == 200


def test_duplicate_fault_delivers_twice():
    sim, log, group, producer, rec, _ = setup(seed=1, duplicate=0.3)
    for i in range(100):
        producer.send(f"k{i}", "T")
    sim.run(until=2_000)
    assert group.redeliveries > 10 and len(rec.seen) == 100 + group.redeliveries


def test_poison_event_goes_to_dead_letter_after_max_attempts():
    rec = Recorder(fail_ids={"p-2"})
    sim, log, group, producer, _, lineage = setup(handler=rec, max_attempts=3, partitions=1)
    for _ in range(4):
        producer.send("k", "T")
    sim.run(until=500)
    assert rec.seen == ["p-1", "p-3", "p-4"] and rec.failures["p-2"] == 3
    assert [d.record.event.event_id for d in group.dead_letters] == ["p-2"]
    assert log.events("t.dlq")[0].event_id == "p-2"
    assert lineage.journey("p-2").count("retried") == 2 and lineage.journey("p-2").has("dead_lettered")


def test_transient_failure_is_retried_and_succeeds():
    rec = Recorder(fail_ids={"p-1"}, fail_times=1)
    sim, log, group, producer, _, _ = setup(handler=rec, max_attempts=3)
    producer.send("k", "T")
    sim.run(until=100)
    assert rec.seen == ["p-1"] and not group.dead_letters and group.failures == 1


def test_slow_consumer_lags_more():
    def lag(slowdown):
        sim, log, group, producer, rec, _ = setup(partitions=2, consumers=["a", "b"], processing_time=2.0)
        group.set_slowdown("b", slowdown)
        for i in range(100):
            sim.schedule(i * 2, producer.send, f"k{i}", "T")
        monitor = LagMonitor(sim, group, 10)
        sim.run(until=5_000)
        return monitor.summary()["backlog_age_max_s"]
    assert lag(5.0) > 3 * lag(1.0)


def test_simulated_crash_from_handler_crashes_the_consumer():
    class CrashOnce:
        def __init__(self):
            self.calls = 0

        def handle(self, event):
            self.calls += 1
            if self.calls == 1:
                raise SimulatedCrash("boom", restart_after_ms=5)
    sim, log, group, producer, handler, _ = setup(handler=CrashOnce())
    producer.send("k", "T")
    sim.run(until=500)
    assert handler.calls == 2 and group.crashes == 1 and group.idle()


def test_producer_loss_and_latency():
    sim = Simulation(2)
    log = EventLog(sim)
    log.create_topic("t", 1)
    producer = Producer(sim, log, "t", latency="exp:5", loss=0.3)
    for i in range(200):
        producer.send(f"k{i}", "T")
    assert producer.in_flight > 0 and len(log.topic("t")) == 0
    sim.run(until=1_000)
    assert producer.lost + producer.appended == 200 and 30 < producer.lost < 90
    assert len(log.topic("t")) == producer.appended


@pytest.mark.parametrize("kwargs, message", [
    ({"commit_every": 0}, "commit_every=0 must be an integer >= 1"),
    ({"max_attempts": 0}, "max_attempts=0 must be an integer >= 1"),
    ({"duplicate": 1.5}, "duplicate=1.5 must be a probability between 0 and 1"),
    ({"session_timeout_ms": -1}, "session_timeout_ms=-1 must be a finite number >= 0 ms"),
    ({"consumers": 0}, "consumers=0 must be an integer >= 1"),
    ({"processing_time": "fast"}, "processing_time='fast'"),
])
def test_consumer_group_rejects_bad_parameters(kwargs, message):
    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("t", 1)
    with pytest.raises(ValueError, match=re.escape(message)):
        ConsumerGroup(sim, log, "t", Recorder(), **kwargs)


def test_log_rejects_bad_topics():
    sim = Simulation(0)
    log = EventLog(sim)
    with pytest.raises(ValueError, match="partitions=0 must be an integer >= 1"):
        log.create_topic("t", 0)
    with pytest.raises(ValueError, match="retention_ms=-5 must be None"):
        log.create_topic("t", 1, retention_ms=-5)
    log.create_topic("t", 1)
    with pytest.raises(ValueError, match="unknown topic 'x'; known topics: t"):
        log.append("x", Event("e", "k", "T"))
    with pytest.raises(ValueError, match="must have a handle"):
        ConsumerGroup(sim, log, "t", object())
    with pytest.raises(ValueError, match="loss=2 must be a probability"):
        Producer(sim, log, "t", loss=2)


def test_lineage_follows_causation_and_correlation():
    sim = Simulation(0)
    lineage = Lineage(sim)
    root = Event("order-1", "o1", "OrderPlaced")
    child = root.caused("pay-1", "o1", "PaymentRequested")
    grandchild = child.caused("ship-1", "o1", "ShipmentRequested")
    lineage.record(root, "published", "orders")
    sim.schedule(5, lineage.record, child, "published", "payments")
    sim.schedule(9, lineage.record, grandchild, "applied", "shipping")
    sim.schedule(7, lineage.record, "pay-1", "applied", "payments", "by id only")
    sim.run()
    journey = lineage.journey("order-1")
    assert [(s.time, s.event_id, s.step) for s in journey.steps] == [
        (0, "order-1", "published"), (5, "pay-1", "published"), (7, "pay-1", "applied"), (9, "ship-1", "applied")]
    assert journey.services() == ["orders", "payments", "shipping"] and journey.span_ms() == 9
    assert len(lineage.journey("order-1", follow=False)) == 1
    assert len(lineage.correlated("order-1")) == 4 and lineage.events_with("applied") == ["pay-1", "ship-1"]
    assert any(e.kind == "note" and e.what == "applied" for e in sim.trace)  # steps reach the trace digest


def test_commit_watchers_hear_every_commit_and_see_the_oldest_uncommitted_record():
    sim, log, group, producer, rec, _ = setup(consumers=1, processing_time=5.0)
    seen = []  # (time, appended_at of the oldest uncommitted record, or None) at each commit
    group.watch_commits(lambda: seen.append((sim.now, getattr(group.oldest_uncommitted(), "appended_at", None))))
    for i in range(3):
        sim.schedule(i, producer.send, f"k{i}", "T")
    sim.run(until=100)
    assert len(seen) == 3 and seen[-1][1] is None  # one commit per record; caught up after the last
    assert [t for t, _ in seen] == sorted(t for t, _ in seen) and seen[0][1] is not None
    assert group.oldest_uncommitted() is None and group.backlog_age_ms() == 0
    with pytest.raises(ValueError, match="must be callable"):
        group.watch_commits("not a function")
