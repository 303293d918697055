"""What inconsistency costs as users grow: anomalies per day against the price of coordination.

Three replicas sit in three regions; users in every region update a set of shared
records (a room, a document, an item in stock).  How many users there are sets the
concurrency: ``users × actions_per_user_day / 86,400 / shared_keys`` updates per record
per second.  One run simulates a sample of the records at exactly that rate:

* ``mode="eventual"``: a write is accepted by the writer's own replica and copied to the
  others in the background.  A write accepted by a replica that has not yet heard of an
  earlier accepted write to the same record is an *anomaly*: it forks or overwrites an
  update its writer never saw (one of the two silently loses under last-writer-wins).
* ``mode="strong"``: every write of a record goes to the record's leader, which holds the
  record's lock until a majority has the write.  No anomaly is possible; the price is
  the wide-area round trips and, when a record is busy, the wait for its lock.

Both sides are *measured* (anomalies per write, milliseconds per write); only the
business inputs are assumptions: actions per user per day, support tickets per anomaly,
the cost of a ticket and the cost of a millisecond of waiting.  :func:`growth_study`
runs both modes at each user count and scales per-write numbers by writes per day;
:func:`decide` turns one row into a choice and the reason for it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional, Sequence

from ..latency import Exponential, Shifted
from ..metrics import percentile
from ..network import Network, NetworkOptions
from ..node import Message, Node, Reply, Request
from ..sim import Simulation
from ..validation import count, non_negative, number
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["GrowthResult", "Measured", "GrowthRow", "GrowthStudy", "Decision", "GROWTH", "USER_GRID",
           "per_key_rate", "measure_growth", "cost_study", "growth_study", "decide", "ticket_sensitivity"]

SECONDS_PER_DAY = 86_400.0
REGIONS = 3
#: The chapter's user counts: a thousand to a million, three per decade.
USER_GRID = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000)

PARAMS = (
    Param("mode", str, "eventual", "eventual: accept locally, copy later; strong: a leader and a majority per write",
          choices=("eventual", "strong")),
    Param("users", int, 100_000, "active users", low=1, high=100_000_000),
    Param("actions_per_user_day", float, 20.0, "updates of shared records per user per day (an assumption)",
          low=0.01, high=100_000),
    Param("shared_keys", int, 1_000, "shared records the users update (rooms, documents, items)",
          low=1, high=100_000_000),
    Param("mergeable_share", float, 0.0, "share of updates that commute (increments, set adds): "
          "concurrent ones merge instead of conflicting", low=0.0, high=1.0),
    Param("writes", int, 2_000, "writes simulated in the sample (more: rarer anomalies become visible)",
          low=10, high=20_000),
    Param("sample_keys", int, 10, "records simulated, each at the per-record rate", low=1, high=200),
    Param("wan_ms", float, 40.0, "mean one-way delay between regions (ms)", low=1.0, high=2_000),
    Param("local_ms", float, 1.0, "mean one-way delay inside a region (ms)", low=0.0, high=100),
)


def per_key_rate(users: float, actions_per_user_day: float, shared_keys: int) -> float:
    """Updates per shared record per second that ``users`` imply (the concurrency a run simulates)."""
    number("users", users, low=0)
    number("actions_per_user_day", actions_per_user_day, low=0)
    count("shared_keys", shared_keys)
    return users * actions_per_user_day / SECONDS_PER_DAY / shared_keys


# -- messages ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Write(Request):
    """Client -> replica (eventual) or leader (strong): write record ``key`` (write number ``wid``)."""

    key: int
    wid: int
    mergeable: bool = False


@dataclass(frozen=True)
class WriteOk(Reply):
    """Replica or leader -> client: the write is accepted."""


@dataclass(frozen=True)
class Replicate(Message):
    """Eventual: a replica copies an accepted write to its peers in the background."""

    key: int
    stamp: tuple


@dataclass(frozen=True)
class Append(Request):
    """Strong: the leader asks a follower to store write ``stamp`` of ``key``."""

    key: int
    stamp: tuple


@dataclass(frozen=True)
class AppendOk(Reply):
    """Strong: a follower has stored the write."""


# -- roles ---------------------------------------------------------------------------------

class Ledger:
    """The run's yardstick (no node reads it): the latest accepted write of every record."""

    def __init__(self) -> None:
        self.latest: dict[int, tuple] = {}
        self.anomalies = 0
        self.accepted = 0

    def accept(self, key: int, stamp: tuple, seen: Optional[tuple], mergeable: bool = False) -> None:
        """Record an accepted write; an anomaly when the accepting replica had not seen the latest one.

        A mergeable write (an increment, an add to a set) commutes with the one it missed:
        the replicas merge both, so missing it harms nobody.
        """
        latest = self.latest.get(key)
        if not mergeable and latest is not None and (seen is None or seen < latest):
            self.anomalies += 1
        self.accepted += 1
        if latest is None or stamp > latest:
            self.latest[key] = stamp


class Replica(Node):
    """One region's copy of the records: accepts locally (eventual) or leads its records (strong)."""

    def __init__(self, name: str, sim: Simulation, network: Network, region: str, peers: list[str],
                 ledger: Ledger, mode: str) -> None:
        self.peers = peers
        self.ledger = ledger
        self.mode = mode
        self.seen: dict[int, tuple] = {}  # record -> newest stamp this replica holds (last writer wins)
        self.lock_waits: list[float] = []
        self.busy_ms: dict[int, float] = {}
        self._queue: dict[int, list[tuple[Write, str, float]]] = {}
        super().__init__(name, sim, network, region=region)

    def _stamp(self, msg: Write) -> tuple:
        return (self.sim.now, msg.wid)

    def _store(self, key: int, stamp: tuple) -> None:
        if key not in self.seen or stamp > self.seen[key]:
            self.seen[key] = stamp

    def on_Write(self, msg: Write, src: str) -> None:
        """Eventual: accept now and copy later.  Strong: queue behind the record's lock."""
        if self.mode == "eventual":
            stamp = self._stamp(msg)
            self.ledger.accept(msg.key, stamp, self.seen.get(msg.key), msg.mergeable)
            self._store(msg.key, stamp)
            self.reply(src, msg, WriteOk)
            self.broadcast(self.peers, Replicate(msg.key, stamp))
            return
        queue = self._queue.setdefault(msg.key, [])
        queue.append((msg, src, self.sim.now))
        if len(queue) == 1:  # the lock was free
            self._commit(msg.key)

    def on_Replicate(self, msg: Replicate, src: str) -> None:
        """Eventual: store a peer's write if it is newer (last writer wins)."""
        self._store(msg.key, msg.stamp)

    def _commit(self, key: int) -> None:
        """Strong: the head of the record's queue holds the lock until one follower (a majority) has it."""
        msg, client, arrived = self._queue[key][0]
        self.lock_waits.append(self.sim.now - arrived)
        stamp = self._stamp(msg)
        started = self.sim.now
        acked = [False]

        def on_ack(_reply: AppendOk, _src: str) -> None:
            if acked[0]:
                return
            acked[0] = True
            self.ledger.accept(key, stamp, self.seen.get(key))
            self._store(key, stamp)
            self.busy_ms[key] = self.busy_ms.get(key, 0.0) + self.sim.now - started
            self.reply(client, msg, WriteOk)
            self._queue[key].pop(0)
            if self._queue[key]:
                self._commit(key)

        for peer in self.peers:
            self.request(peer, Append(self.sim.next_id(), key, stamp), None, on_ack)

    def on_Append(self, msg: Append, src: str) -> None:
        """Strong, as a follower: store the leader's write and acknowledge."""
        self._store(msg.key, msg.stamp)
        self.reply(src, msg, AppendOk)


class Writer(Node):
    """The users of one region: sends each write when it is due and times the answer."""

    def __init__(self, name: str, sim: Simulation, network: Network, region: str) -> None:
        self.latencies: list[float] = []
        self.outstanding = 0
        super().__init__(name, sim, network, region=region)

    def write(self, replica: str, key: int, wid: int, mergeable: bool) -> None:
        """Send one write to ``replica``; its latency is recorded when it is accepted."""
        sent = self.sim.now
        self.outstanding += 1

        def done(_reply: WriteOk, _src: str) -> None:
            self.outstanding -= 1
            self.latencies.append(self.sim.now - sent)

        self.request(replica, Write(self.sim.next_id(), key, wid, mergeable), None, done)


# -- the run -------------------------------------------------------------------------------

@dataclass
class GrowthResult(RunResult):
    """One growth run: the per-write measurements and what they imply per day."""

    latencies: list = field(default_factory=list)


def _run_growth(seed: int, p: dict, hooks: dict) -> GrowthResult:
    """Simulate ``sample_keys`` records at the per-record rate ``users`` implies; count anomalies, time writes."""
    sim = Simulation(seed, trace=False, max_events=EVENT_BUDGET)
    local = Exponential(1.0 / p["local_ms"]) if p["local_ms"] > 0 else 0.0
    net = Network(sim, NetworkOptions(latency=local))
    wan = Shifted(Exponential(1.0 / (0.2 * p["wan_ms"])), 0.8 * p["wan_ms"])  # a floor plus a tail
    regions = [f"R{i}" for i in range(REGIONS)]
    for i, a in enumerate(regions):
        for b in regions[i + 1:]:
            net.set_region_latency(a, b, wan)
    ledger = Ledger()
    names = [f"r{i}" for i in range(REGIONS)]
    replicas = [Replica(n, sim, net, regions[i], [m for m in names if m != n], ledger, p["mode"])
                for i, n in enumerate(names)]
    writers = [Writer(f"u{i}", sim, net, regions[i]) for i in range(REGIONS)]

    rate = per_key_rate(p["users"], p["actions_per_user_day"], p["shared_keys"])  # per record per s
    keys = min(p["sample_keys"], p["shared_keys"])
    arrivals = sim.rng("arrivals")
    kinds = sim.rng("kinds")  # its own stream: the share changes no arrival time
    per_key_ms = 1000.0 / rate  # mean gap between two writes of one record
    end = 0.0
    last = [0.0] * keys
    for wid in range(p["writes"]):
        key = wid % keys  # the records take turns, so each gets the same number of writes
        t = last[key] = last[key] + arrivals.expovariate(1.0) * per_key_ms  # a Poisson stream per record
        region = arrivals.randrange(REGIONS)
        mergeable = kinds.random() < p["mergeable_share"]
        target = names[region] if p["mode"] == "eventual" else names[key % REGIONS]
        sim.schedule(t, writers[region].write, target, key, wid, mergeable)
        end = max(end, t)
    # After the last write: every answer and every copy is in within a few round trips,
    # unless a strong record is overloaded; then its queue drains one commit per round trip.
    writes_per_key = math.ceil(p["writes"] / keys)
    bound = end + 20 * p["wan_ms"] + 1_000.0 + writes_per_key * 10 * p["wan_ms"]
    reason = sim.run_bounded(bound)
    latencies = sorted(x for w in writers for x in w.latencies)
    done = len(latencies)
    unfinished = sum(w.outstanding for w in writers)
    lock_waits = [x for r in replicas for x in r.lock_waits]
    span_ms = max(end, 1e-9)
    busy = [sum(r.busy_ms.get(k, 0.0) for r in replicas) for k in range(keys)]
    ops_per_day = p["users"] * p["actions_per_user_day"]
    probability = ledger.anomalies / ledger.accepted if ledger.accepted else math.nan
    metrics = {
        "per_key_rate_per_s": rate,
        "ops_per_day": ops_per_day,
        "writes_done": done,
        "anomalies": ledger.anomalies,
        "anomaly_probability": probability,
        "anomalies_per_day": probability * ops_per_day if ledger.accepted else math.nan,
        "latency_mean_ms": sum(latencies) / done if done else math.nan,
        "latency_p50_ms": percentile(latencies, 50) if done else math.nan,
        "latency_p99_ms": percentile(latencies, 99) if done else math.nan,
        "lock_wait_mean_ms": sum(lock_waits) / len(lock_waits) if lock_waits else 0.0,
        "key_utilisation": max(busy) / span_ms if p["mode"] == "strong" else 0.0,
        "virtual_days": end / 1000.0 / SECONDS_PER_DAY,
        "unfinished_writes": unfinished,
    }
    stopped = stop_note(reason, bound, f"{unfinished} writes") if unfinished else ""
    return GrowthResult(scenario="growth", seed=seed, params=dict(p), metrics=metrics,
                        trace_digest=_digest(seed, p, latencies, ledger), latencies=latencies, stopped=stopped)


def _digest(seed: int, p: dict, latencies: list, ledger: Ledger) -> str:
    """A digest of what the run measured (the trace is off: a sample can span days of virtual time)."""
    import hashlib
    h = hashlib.sha256(f"{seed}|{sorted(p.items())}|{ledger.anomalies}|{ledger.accepted}".encode())
    for x in latencies:
        h.update(f"{x:.9g},".encode())
    return h.hexdigest()


GROWTH = register_scenario(Scenario(
    name="growth",
    summary="shared records at the concurrency a user count implies: anomalies per write (eventual) "
            "against ms per write (strong)",
    params=PARAMS,
    runner=_run_growth,
    work=lambda p: (p["writes"], "writes"),
    max_work=20_000,
))


# -- from runs to a decision -----------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """Which model costs less per day at one scale, with the numbers behind it."""

    choice: str
    tickets_per_day: float
    anomaly_cost_per_day: float
    coordination_cost_per_day: float
    reason: str


def decide(anomalies_per_day: float, extra_ms_per_write: float, writes_per_day: float, *,
           tickets_per_anomaly: float, cost_per_ticket: float, cost_per_ms: float) -> Decision:
    """Strong or eventual, from measured anomalies and latency and the stated business assumptions."""
    non_negative("anomalies_per_day", anomalies_per_day)
    number("extra_ms_per_write", extra_ms_per_write)
    non_negative("writes_per_day", writes_per_day)
    non_negative("tickets_per_anomaly", tickets_per_anomaly)
    non_negative("cost_per_ticket", cost_per_ticket, "$")
    non_negative("cost_per_ms", cost_per_ms, "$")
    tickets = anomalies_per_day * tickets_per_anomaly
    anomaly_cost = tickets * cost_per_ticket
    coordination = max(extra_ms_per_write, 0.0) * writes_per_day * cost_per_ms
    if anomaly_cost > coordination:
        return Decision("strong", tickets, anomaly_cost, coordination,
                        f"{tickets:,.0f} tickets/day cost ${anomaly_cost:,.0f}, more than the "
                        f"${coordination:,.0f}/day that {extra_ms_per_write:.0f} ms of coordination per write costs")
    return Decision("eventual", tickets, anomaly_cost, coordination,
                    f"{extra_ms_per_write:.0f} ms of coordination per write costs ${coordination:,.0f}/day, "
                    f"more than the {tickets:,.1f} tickets/day (${anomaly_cost:,.0f}) that anomalies cause")


@dataclass(frozen=True)
class Measured:
    """What the two runs at one user count measured (no business assumption in here)."""

    users: int
    per_key_rate_per_s: float
    writes_per_day: float
    anomaly_probability: float
    anomalies_per_day: float
    eventual_ms: float
    strong_ms: float
    lock_wait_ms: float
    #: One anomaly in the whole sample, per day: rarer anomalies are invisible in a run this long.
    detection_limit_per_day: float

    @property
    def extra_ms(self) -> float:
        """What coordination adds to each write (ms), measured as strong minus eventual."""
        return self.strong_ms - self.eventual_ms


@dataclass(frozen=True)
class GrowthRow(Measured):
    """One user count: the measurements and the decision they lead to under the stated costs."""

    decision: Optional[Decision] = None


@dataclass(frozen=True)
class GrowthStudy:
    """Rows for a grid of user counts, the user count where the cheaper choice flips, and the inputs."""

    rows: tuple
    flip_users: Optional[float]
    inputs: dict

    @property
    def users(self) -> list:
        """The user counts, in order."""
        return [r.users for r in self.rows]


def measure_growth(users: int, *, seed: int = 0, actions_per_user_day: float = 20.0, shared_keys: int = 1_000,
                   writes: int = 5_000, strong_writes: int = 500, wan_ms: float = 40.0,
                   mergeable_share: float = 0.0) -> Measured:
    """Run the eventual and the strong mode at ``users``: anomalies per write and ms per write.

    Anomalies are rare events, so the eventual run needs many writes to see them; a
    strong write's latency varies little, so its run can be ten times shorter.
    """
    common = dict(users=users, actions_per_user_day=actions_per_user_day, shared_keys=shared_keys,
                  wan_ms=wan_ms, mergeable_share=mergeable_share)
    ev = GROWTH.run(seed, mode="eventual", writes=writes, **common).metrics
    st = GROWTH.run(seed, mode="strong", writes=strong_writes, **common).metrics
    return Measured(users, ev["per_key_rate_per_s"], ev["ops_per_day"], ev["anomaly_probability"],
                    ev["anomalies_per_day"], ev["latency_mean_ms"], st["latency_mean_ms"],
                    st["lock_wait_mean_ms"], ev["ops_per_day"] / writes)


def cost_study(measured: Sequence[Measured], *, tickets_per_anomaly: float = 0.05, cost_per_ticket: float = 15.0,
               cost_per_ms: float = 1e-5, inputs: Optional[dict] = None) -> GrowthStudy:
    """Price measured rows with the stated assumptions and find where the cheaper choice flips."""
    rows = []
    for m in measured:
        decision = decide(m.anomalies_per_day, m.extra_ms, m.writes_per_day, tickets_per_anomaly=tickets_per_anomaly,
                          cost_per_ticket=cost_per_ticket, cost_per_ms=cost_per_ms)
        rows.append(GrowthRow(**{f: getattr(m, f) for f in Measured.__dataclass_fields__}, decision=decision))
    costs = dict(tickets_per_anomaly=tickets_per_anomaly, cost_per_ticket=cost_per_ticket, cost_per_ms=cost_per_ms)
    return GrowthStudy(tuple(rows), _flip(rows), {**(inputs or {}), **costs})


def growth_study(users: Sequence[int] = USER_GRID, *, seed: int = 0, actions_per_user_day: float = 20.0,
                 shared_keys: int = 1_000, tickets_per_anomaly: float = 0.05, cost_per_ticket: float = 15.0,
                 cost_per_ms: float = 1e-5, writes: int = 5_000, strong_writes: int = 500, wan_ms: float = 40.0,
                 mergeable_share: float = 0.0) -> GrowthStudy:
    """Run both modes at each user count; cost them per day; find where the cheaper choice flips."""
    grid = [count("users", u) for u in users]
    if not grid or grid != sorted(set(grid)):
        raise ValueError(f"users={list(users)!r} must be increasing user counts; allowed: e.g. (1000, 10000)")
    knobs = dict(seed=seed, actions_per_user_day=actions_per_user_day, shared_keys=shared_keys, writes=writes,
                 strong_writes=strong_writes, wan_ms=wan_ms, mergeable_share=mergeable_share)
    measured = [measure_growth(u, **knobs) for u in grid]
    return cost_study(measured, tickets_per_anomaly=tickets_per_anomaly, cost_per_ticket=cost_per_ticket,
                      cost_per_ms=cost_per_ms, inputs=knobs)


def _flip(rows: list) -> Optional[float]:
    """The first user count where the cheaper choice changes, interpolated on a log scale (None: never)."""
    for a, b in zip(rows, rows[1:]):
        if a.decision.choice != b.decision.choice:
            da = a.decision.anomaly_cost_per_day - a.decision.coordination_cost_per_day
            db = b.decision.anomaly_cost_per_day - b.decision.coordination_cost_per_day
            share = da / (da - db) if da != db else 0.5
            return math.exp(math.log(a.users) + share * (math.log(b.users) - math.log(a.users)))
    return None


def ticket_sensitivity(row: GrowthRow, tickets_per_anomaly: Sequence[float], *, cost_per_ticket: float,
                       cost_per_ms: float) -> list:
    """The decision at one user count for each assumed tickets-per-anomaly (the assumption's weight)."""
    return [decide(row.anomalies_per_day, row.extra_ms, row.writes_per_day, tickets_per_anomaly=t,
                   cost_per_ticket=cost_per_ticket, cost_per_ms=cost_per_ms) for t in tickets_per_anomaly]
