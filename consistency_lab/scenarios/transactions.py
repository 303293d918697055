"""Transactions under strict two-phase locking: lock waits and deadlocks against contention.

``clients`` clients each run ``transactions`` transactions one after another, with a
think time (``think_ms``) before each.  A transaction touches ``rows_per_txn`` (k)
distinct rows out of ``rows`` (M): each row is read (probability ``read_share``) or
incremented (read, then write the value + 1), and each row takes ``work_ms`` of work.
The rows live in one :class:`~consistency_lab.patterns.locks.TwoPhaseStore`: a read
takes a shared lock, a write an exclusive one, and every lock is held until commit.

What the knobs change:

``lock_order``
    ``random``: rows in the order the transaction happens to touch them (two
    transactions can lock a and b in opposite orders: deadlock); ``sorted``: rows in
    key order, which never deadlocks (every wait points at a transaction that is
    further along the same order, so no wait can close a loop).
``write_lock``
    ``exclusive``: a write locks X at once (``SELECT ... FOR UPDATE``);
    ``upgrade``: it reads under S and upgrades to X to write, so two transactions
    that both read a row and both want to write it deadlock even in sorted order.
``deadlock_detection``
    on: the wait-for graph is searched on every block and one victim (``victim``
    rule) is aborted at once; off: a deadlock lasts until ``lock_timeout_ms`` runs out.
    Either way a wait longer than ``lock_timeout_ms`` aborts the transaction.

An aborted transaction spends ``undo_ms`` per write undoing it (holding its locks,
as a real rollback does), releases everything, waits a random backoff (uniform in 0
to ``backoff_ms`` x 2^(attempt-1), capped at 2^10) and runs again with the same rows;
after ``max_attempts`` it gives up.  Retries keep the transaction's first start time,
so under the ``youngest`` rule a retried transaction ages and eventually wins.

Main metrics: ``commits``, ``gave_up``, ``attempts``, ``deadlocks``, ``deadlock_rate``
(deadlocks per attempt), ``aborts_deadlock``, ``aborts_timeout``,
``timeouts_in_deadlock`` (timeouts that were really breaking a deadlock),
``undone_writes`` (rollback work), ``lock_wait_*`` (every lock request, 0 when granted
at once), ``blocked_wait_*`` (only the requests that waited), ``txn_latency_*`` (first
start to commit), ``throughput_per_s`` (commits per second of virtual time) and
``contention`` (k / M).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

from ..latency import parse_latency
from ..metrics import latency_summary, rate
from ..patterns.deadlock import VICTIM_RULES
from ..patterns.locks import EXCLUSIVE, SHARED, DeadlockRecord, LockManager, LockWait, TwoPhaseStore
from ..sim import Simulation, TraceEvent
from . import register_scenario
from .base import EVENT_BUDGET, Param, RunResult, Scenario, stop_note

__all__ = ["TransactionsResult", "TxnPlan", "TxnRecord", "TRANSACTIONS", "LOCK_ORDERS", "WRITE_LOCKS"]

LOCK_ORDERS = ("random", "sorted")
WRITE_LOCKS = ("exclusive", "upgrade")
_BACKOFF_DOUBLINGS = 10  # backoff stops growing after 2^10 x backoff_ms

PARAMS = (
    Param("clients", int, 8, "clients, each running its transactions one after another", low=1, high=200),
    Param("transactions", int, 50, "transactions per client", low=1, high=10_000),
    Param("rows", int, 100, "rows in the table (M)", low=1, high=1_000_000),
    Param("rows_per_txn", int, 4, "distinct rows each transaction touches (k); at most rows", low=1, high=100),
    Param("read_share", float, 0.5, "probability that a touched row is only read (else incremented)",
          low=0.0, high=1.0),
    Param("lock_order", str, "random", "order in which a transaction locks its rows", choices=LOCK_ORDERS),
    Param("write_lock", str, "exclusive", "a write locks X at once, or reads under S and upgrades",
          choices=WRITE_LOCKS),
    Param("deadlock_detection", bool, True, "search the wait-for graph on every block (off: only timeouts)"),
    Param("victim", str, "youngest", "which transaction of a deadlock is aborted", choices=VICTIM_RULES),
    Param("lock_timeout_ms", float, 1000.0, "a lock wait longer than this aborts the transaction (ms)",
          low=1.0, high=600_000),
    Param("think_ms", str, "exp:20", "a client's pause before each transaction (ms)"),
    Param("work_ms", str, "exp:2", "work per touched row, done while holding its lock (ms)"),
    Param("undo_ms", float, 0.5, "rollback time per undone write (ms)", low=0.0, high=60_000),
    Param("backoff_ms", float, 5.0, "base of the random retry backoff after an abort (ms)", low=0.0, high=60_000),
    Param("max_attempts", int, 20, "attempts per transaction before it gives up", low=1, high=1_000),
    Param("trace", bool, True, "include the lock trace in the result (the digest is always computed)"),
)


def _cross_check(p: dict) -> None:
    if p["rows_per_txn"] > p["rows"]:
        raise ValueError(f"rows_per_txn={p['rows_per_txn']} must be at most rows={p['rows']}")
    parse_latency(p["think_ms"], "think_ms")
    parse_latency(p["work_ms"], "work_ms")


# -- the workload ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class TxnPlan:
    """One transaction as planned: its rows in lock order, read or write each, and the work per row (ms)."""

    txn: int
    client: int
    think_ms: float
    ops: tuple[tuple[int, str], ...]  # (row, "r" or "w")
    work_ms: tuple[float, ...]


@dataclass
class TxnRecord:
    """What became of one transaction.

    ``steps`` holds the committed attempt's reads and writes in the order they
    happened, as ``("r", row, value_read)`` / ``("w", row, value_written)``.
    ``outcome``: ``committed``, ``gave-up`` or ``pending`` (the run was stopped).
    """

    txn: int
    client: int
    attempts: int = 0
    outcome: str = "pending"
    first_start: float = math.nan
    commit_time: float = math.nan
    aborts: list[str] = field(default_factory=list)
    steps: tuple[tuple[str, int, int], ...] = ()

    @property
    def latency_ms(self) -> float:
        """First start to commit (ms); NaN unless committed."""
        return self.commit_time - self.first_start


def plan_transactions(sim: Simulation, p: dict) -> list[list[TxnPlan]]:
    """Every client's transactions, drawn up front from their own streams (one list per client)."""
    rows_rng, think_rng, work_rng = sim.rng("rows"), sim.rng("think"), sim.rng("work")
    think, work = parse_latency(p["think_ms"], "think_ms"), parse_latency(p["work_ms"], "work_ms")
    k, out = p["rows_per_txn"], []
    for c in range(p["clients"]):
        plans = []
        for j in range(p["transactions"]):
            rows = rows_rng.sample(range(p["rows"]), k)
            if p["lock_order"] == "sorted":
                rows.sort()
            ops = tuple((r, "r" if rows_rng.random() < p["read_share"] else "w") for r in rows)
            plans.append(TxnPlan(c * p["transactions"] + j, c, think.sample(think_rng), ops,
                                 tuple(work.sample(work_rng) for _ in range(k))))
        out.append(plans)
    return out


class _Client:
    """Runs its planned transactions in turn: lock, read, work, write, commit; roll back and retry on abort."""

    def __init__(self, sim: Simulation, store: TwoPhaseStore, plans: list[TxnPlan], records: dict[int, TxnRecord],
                 p: dict, commit_order: list[int], on_done: Callable[[], None]) -> None:
        self.sim, self.store, self.locks = sim, store, store.locks
        self.plans, self.records, self.p = plans, records, p
        self.commit_order, self.on_done = commit_order, on_done
        self.upgrade = p["write_lock"] == "upgrade"
        self.backoff = sim.rng("backoff")
        self.index = -1
        self.plan: TxnPlan | None = None
        self.step = 0
        self.steps: list[tuple[str, int, int]] = []

    def start(self) -> None:
        """Begin the first transaction (after its think time)."""
        self._next()

    def _next(self) -> None:
        self.index += 1
        if self.index == len(self.plans):
            self.on_done()
            return
        self.plan = self.plans[self.index]
        self.sim.schedule(self.plan.think_ms, self._begin)

    def _begin(self) -> None:
        rec = self.records[self.plan.txn]
        if rec.attempts == 0:
            rec.first_start = self.sim.now
        rec.attempts += 1
        self.store.begin(self.plan.txn, rec.first_start)
        self.step, self.steps = 0, []
        self._lock()

    def _lock(self) -> None:
        if self.step == len(self.plan.ops):
            self._commit()
            return
        row, op = self.plan.ops[self.step]
        mode = SHARED if op == "r" or self.upgrade else EXCLUSIVE
        if self.locks.acquire(self.plan.txn, row, mode, self._read):
            self._read()

    def _read(self) -> None:
        row, op = self.plan.ops[self.step]
        value = self.store.read(self.plan.txn, row)
        if op == "r":
            self.steps.append(("r", row, value))
        self.sim.schedule(self.plan.work_ms[self.step], self._worked, value)

    def _worked(self, value: int) -> None:
        row, op = self.plan.ops[self.step]
        if op == "r":
            self._advance()
            return
        if self.locks.acquire(self.plan.txn, row, EXCLUSIVE, lambda: self._write(value)):
            self._write(value)  # already X (write_lock=exclusive), or the upgrade was granted at once

    def _write(self, value: int) -> None:
        row = self.plan.ops[self.step][0]
        self.store.write(self.plan.txn, row, value + 1)
        self.steps.append(("w", row, value + 1))
        self._advance()

    def _advance(self) -> None:
        self.step += 1
        self._lock()

    def _commit(self) -> None:
        rec = self.records[self.plan.txn]
        self.store.commit(self.plan.txn)
        rec.outcome, rec.commit_time, rec.steps = "committed", self.sim.now, tuple(self.steps)
        self.commit_order.append(rec.txn)
        self.sim.record("note", f"t{rec.txn}", "", "commit")
        self._next()

    def aborted(self, reason: str) -> None:
        """The lock manager aborted this client's transaction: undo its writes, then retry or give up."""
        rec = self.records[self.plan.txn]
        rec.aborts.append(reason)
        # The rollback holds the locks while it undoes: others keep waiting for it.
        undo = self.p["undo_ms"] * self.store.pending_writes(self.plan.txn)
        self.sim.schedule(undo, self._rolled_back)

    def _rolled_back(self) -> None:
        rec = self.records[self.plan.txn]
        self.store.rollback(self.plan.txn)
        if rec.attempts >= self.p["max_attempts"]:
            rec.outcome = "gave-up"
            self._next()
            return
        cap = self.p["backoff_ms"] * 2 ** min(rec.attempts - 1, _BACKOFF_DOUBLINGS)
        self.sim.schedule(self.backoff.uniform(0.0, cap), self._begin)


# -- the run ------------------------------------------------------------------------------------

@dataclass
class TransactionsResult(RunResult):
    """Every transaction's record, the commit order, the rows' final values and the lock manager's log.

    ``final_values`` is the committed state: when a bound stopped the run, the
    transactions still in flight are rolled back first (as a database does on restart).
    """

    records: list[TxnRecord] = field(default_factory=list)
    commit_order: list[int] = field(default_factory=list)
    final_values: list[int] = field(default_factory=list)
    deadlocks: list[DeadlockRecord] = field(default_factory=list)
    waits: list[LockWait] = field(default_factory=list)
    trace: list[TraceEvent] = field(default_factory=list)
    end_time: float = 0.0

    def committed(self) -> list[TxnRecord]:
        """The committed transactions, in commit order."""
        by_id = {r.txn: r for r in self.records}
        return [by_id[t] for t in self.commit_order]


def _bound(p: dict, plans: list[list[TxnPlan]]) -> float:
    # Every wait ends by its timeout, so an attempt is bounded by its work, one timeout
    # per lock request (two per write when upgrading), its undo and the largest backoff.
    k = p["rows_per_txn"]
    waits = 2 * k if p["write_lock"] == "upgrade" else k
    backoff = p["backoff_ms"] * 2 ** _BACKOFF_DOUBLINGS
    per_client = (sum(pl.think_ms + p["max_attempts"] * (sum(pl.work_ms) + waits * p["lock_timeout_ms"]
                                                         + k * p["undo_ms"] + backoff) for pl in client)
                  for client in plans)
    return max(per_client) + 1_000.0


def _run_transactions(seed: int, p: dict, _hooks: dict) -> TransactionsResult:
    """Plan the transactions, run every client against one strict-2PL store, and measure (``TRANSACTIONS.run``)."""
    sim = Simulation(seed, trace=True, max_events=EVENT_BUDGET)
    clients: dict[int, _Client] = {}
    locks = LockManager(sim, timeout_ms=p["lock_timeout_ms"],
                        detection="on-block" if p["deadlock_detection"] else "off", victim=p["victim"],
                        on_abort=lambda txn, reason: clients[txn].aborted(reason))
    store = TwoPhaseStore(locks, p["rows"])
    plans = plan_transactions(sim, p)
    records = {pl.txn: TxnRecord(pl.txn, pl.client) for client in plans for pl in client}
    commit_order: list[int] = []
    left = {"clients": len(plans)}
    finished = sim.env.event()

    def on_done() -> None:
        left["clients"] -= 1
        if left["clients"] == 0:
            finished.succeed()

    runners = [_Client(sim, store, client, records, p, commit_order, on_done) for client in plans]
    for runner, client in zip(runners, plans):
        for pl in client:
            clients[pl.txn] = runner
        runner.start()
    bound = _bound(p, plans)
    reason = sim.run_bounded(bound, stop_when=finished)
    busy = [f"c{i}" for i, r in enumerate(runners) if r.index < len(r.plans)]
    stopped = stop_note(reason, bound, ", ".join(busy[:5]) + (" ..." if len(busy) > 5 else "")) if busy else ""
    recs = list(records.values())
    metrics = _metrics(p, recs, locks, store, sim.now)
    waits = list(locks.waits)
    for txn in store.active():
        store.rollback(txn)  # a run stopped early: its unfinished transactions never committed
    return TransactionsResult(
        scenario="transactions", seed=seed, params=dict(p), metrics=metrics,
        trace_digest=sim.trace_digest(), records=recs, commit_order=commit_order,
        final_values=list(store.values), deadlocks=list(locks.deadlocks), waits=waits,
        trace=sim.trace if p["trace"] else [], end_time=sim.now, stopped=stopped)


def _metrics(p: dict, recs: list[TxnRecord], locks: LockManager, store: TwoPhaseStore,
             end_ms: float) -> dict[str, Any]:
    attempts = sum(r.attempts for r in recs)
    commits = sum(1 for r in recs if r.outcome == "committed")
    lock_stats = locks.stats()
    m: dict[str, Any] = {
        "transactions": len(recs),
        "commits": commits,
        "gave_up": sum(1 for r in recs if r.outcome == "gave-up"),
        "attempts": attempts,
        "deadlocks": lock_stats["deadlocks"],
        "deadlock_rate": rate(lock_stats["deadlocks"], attempts),
        "aborts": lock_stats["aborts_deadlock"] + lock_stats["aborts_timeout"],
        "aborts_deadlock": lock_stats["aborts_deadlock"],
        "aborts_timeout": lock_stats["aborts_timeout"],
        "abort_rate": rate(lock_stats["aborts_deadlock"] + lock_stats["aborts_timeout"], attempts),
        "timeouts_in_deadlock": lock_stats["timeouts_in_deadlock"],
        "undone_writes": store.undone_writes,
        "lock_requests": lock_stats["lock_requests"],
        "lock_waits": lock_stats["lock_waits"],
        "contention": p["rows_per_txn"] / p["rows"],
        "throughput_per_s": rate(commits, end_ms / 1000.0),
        "end_ms": end_ms,
    }
    m.update({k: v for k, v in lock_stats.items() if k.startswith(("lock_wait_", "blocked_wait_"))})
    m.update(latency_summary([r.latency_ms for r in recs if r.outcome == "committed"], "txn_latency"))
    return m


TRANSACTIONS = register_scenario(Scenario(
    name="transactions",
    summary="clients run transactions over k of M rows under strict two-phase locking: "
            "lock waits, deadlocks and rollbacks grow with contention; sorted lock order never deadlocks",
    params=PARAMS,
    runner=_run_transactions,
    cross_check=_cross_check,
    work=lambda p: (p["clients"] * p["transactions"] * p["rows_per_txn"], "clients x transactions x rows_per_txn"),
    max_work=100_000,
))
