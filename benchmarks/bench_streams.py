"""Events per second through the event log and a consumer group, against a bare-SimPy pipeline.

Run: ``python benchmarks/bench_streams.py``.  The same traffic runs on both sides:
``EVENTS`` events, one every ``GAP_MS`` of virtual time, each taking
``PROCESS_MS`` of processing before a trivial handler counts it.

* **streams**: a :class:`Producer` appends to a topic; a :class:`ConsumerGroup`
  (offsets, commits, rebalancing machinery, lag bookkeeping) feeds the handler.
* **bare SimPy**: a producer process ``put`` s the events into a ``simpy.Store``;
  ``CONSUMERS`` consumer processes ``get`` one, wait the processing time, and call
  the handler.  No offsets, no commits, no redelivery: the floor any log model pays.

We report wall-clock events per second for each, and the ratio, in the same run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Iterator

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import best_of, table  # noqa: E402

from consistency_lab.sim import Simulation  # noqa: E402
from consistency_lab.streams import ConsumerGroup, Event, EventLog, Lineage, Producer  # noqa: E402

EVENTS = 50_000
GAP_MS = 1.0
PROCESS_MS = 0.8


class Counter:
    """The handler on both sides: counts deliveries."""

    def __init__(self) -> None:
        self.count = 0

    def handle(self, event: Event) -> None:
        """Count one event."""
        self.count += 1


def make_events() -> list[Event]:
    """The traffic: EVENTS events over 100 keys."""
    return [Event(f"e{i}", f"k{i % 100}", "Tick", {"i": i}) for i in range(EVENTS)]


def run_streams(events: list[Event], partitions: int, consumers: int, lineage: bool = False) -> int:
    """Log + consumer group; returns how many events the handler saw."""
    sim = Simulation(0, trace=lineage)
    lin = Lineage(sim) if lineage else None
    log = EventLog(sim, lineage=lin)
    log.create_topic("t", partitions)
    handler = Counter()
    ConsumerGroup(sim, log, "t", handler, consumers=consumers, processing_time=PROCESS_MS, lineage=lin)
    producer = Producer(sim, log, "t", name="p", lineage=lin)

    def produce(i: int) -> None:
        producer.publish(events[i])
        if i + 1 < len(events):
            sim.schedule(GAP_MS, produce, i + 1)

    sim.schedule(0.0, produce, 0)
    sim.run()
    return handler.count


def run_simpy(events: list[Event], consumers: int) -> int:
    """The same traffic through a simpy.Store with producer and consumer processes."""
    env = simpy.Environment()
    store = simpy.Store(env)
    handler = Counter()

    def producer() -> Iterator[simpy.Event]:
        for e in events:
            yield store.put(e)
            yield env.timeout(GAP_MS)

    def consumer() -> Iterator[simpy.Event]:
        while True:
            e = yield store.get()
            yield env.timeout(PROCESS_MS)
            handler.handle(e)

    env.process(producer())
    for _ in range(consumers):
        env.process(consumer())
    env.run()
    return handler.count


def main() -> None:
    """Time each case (best of 3) and print the table."""
    events = make_events()
    assert run_streams(events, 1, 1) == run_simpy(events, 1) == EVENTS
    cases = [
        ("1 partition, 1 consumer", lambda: run_streams(events, 1, 1), lambda: run_simpy(events, 1)),
        ("8 partitions, 4 consumers", lambda: run_streams(events, 8, 4), lambda: run_simpy(events, 4)),
        ("8 partitions, 4 consumers, lineage+trace", lambda: run_streams(events, 8, 4, lineage=True),
         lambda: run_simpy(events, 4)),
    ]
    rows = []
    for name, ours, theirs in cases:
        t_ours, t_simpy = best_of(ours), best_of(theirs)
        rows.append((name, f"{EVENTS / t_ours:,.0f}", f"{EVENTS / t_simpy:,.0f}", f"{t_simpy / t_ours:.2f}x"))
    print(f"{EVENTS:,} events, one every {GAP_MS} ms, {PROCESS_MS} ms processing each (wall clock, best of 3)")
    print(table(rows, ("case", "streams ev/s", "bare SimPy ev/s", "streams / SimPy")))


if __name__ == "__main__":
    main()
