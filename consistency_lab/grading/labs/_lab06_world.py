"""The world lab 06's checks run in: replicas of one register, course clients, fault schedules.

Shared by the public checks (:mod:`.lab06`) and the hidden ones.  Students write a
:class:`~consistency_lab.node.Node` subclass on top of :class:`Replica`, which gives them
the messages, the durable state (``ts``, ``value``), the replica role (answer a
:class:`Query`, keep the newer of two stamps on a :class:`Store`) and a *naive* quorum
helper, :meth:`Replica.phase`, that sends once and counts every reply, duplicates too, up to a
majority (part 4 replaces it).  :func:`run_replicas` runs a class on N replicas with course clients under a
named :class:`Schedule` (loss, duplication, reordering, partitions, crashes, slow links),
records what the clients saw as :class:`~consistency_lab.history.Operation` s and checks the
history for linearizability.  Every run is bounded (virtual time, the event budget, a handful
of operations), and :meth:`ReplicaRun.problem` names the seed and the schedule that reproduce
a failure.  No reference implementation of a graded part lives here: this module ships.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from consistency_lab.check import CheckResult, check_operations, register_model
from consistency_lab.faults import parse_faults
from consistency_lab.history import INF, History, Operation
from consistency_lab.latency import Constant, Exponential, Latency
from consistency_lab.network import Network, NetworkOptions
from consistency_lab.node import Node, Reply, Request
from consistency_lab.scenarios.base import EVENT_BUDGET, stop_note
from consistency_lab.sim import Simulation

__all__ = ["ZERO", "RESEND_MS", "Read", "Write", "ReadOk", "WriteOk", "Query", "QueryReply", "Store", "StoreAck",
           "Replica", "Probe", "Schedule", "SCHEDULES", "ReplicaRun", "PhaseRun", "build_world", "run_replicas",
           "run_phases", "replay", "schedule_named"]

#: The stamp of the initial value: (counter, node name).  Every real write's stamp is higher.
ZERO: tuple = (0, "")
#: How long (ms) a phase waits before it sends its request again to replicas that have not answered.
RESEND_MS = 20.0


# -- messages ------------------------------------------------------------------------------------
# Client <-> the replica that coordinates the client's operation.

@dataclass(frozen=True)
class Read(Request):
    """Client -> coordinator: read the register."""


@dataclass(frozen=True)
class Write(Request):
    """Client -> coordinator: write ``value``."""

    value: Any


@dataclass(frozen=True)
class ReadOk(Reply):
    """Coordinator -> client: the value read."""

    value: Any


@dataclass(frozen=True)
class WriteOk(Reply):
    """Coordinator -> client: the write is done."""


# Coordinator <-> replicas (the coordinator is one of them and asks itself too).

@dataclass(frozen=True)
class Query(Request):
    """Coordinator -> replica: which stamp and value do you hold?"""


@dataclass(frozen=True)
class QueryReply(Reply):
    """Replica -> coordinator: my stamp and value."""

    ts: tuple
    value: Any


@dataclass(frozen=True)
class Store(Request):
    """Coordinator -> replica: keep ``value`` if ``ts`` is newer than what you hold."""

    ts: tuple
    value: Any


@dataclass(frozen=True)
class StoreAck(Reply):
    """Replica -> coordinator: I hold ``ts`` or something newer."""


# -- the replica the students build on -----------------------------------------------------------

class Replica(Node):
    """One replica of the register: durable state, the replica role, and a naive quorum helper.

    ``peers`` are the names of all replicas (this one included); ``majority`` is how many
    of them make a quorum.  ``ts`` and ``value`` are durable (set in ``__init__``, so a crash
    keeps them); ``init_volatile`` sets up what a crash forgets.
    """

    def __init__(self, name: str, sim: Simulation, network: Network, peers: tuple) -> None:
        self.peers = tuple(peers)
        self.majority = len(self.peers) // 2 + 1
        self.ts: tuple = ZERO
        self.value: Any = None
        super().__init__(name, sim, network)

    def init_volatile(self) -> None:
        """The naive helper's phases in flight: request id -> (on_quorum, replies so far)."""
        self.phases: dict = {}

    # The replica role (given): every replica, coordinator or not, does this.
    def on_Query(self, msg: Query, src: str) -> None:
        """Answer with what this replica holds."""
        self.reply(src, msg, QueryReply, ts=self.ts, value=self.value)

    def on_Store(self, msg: Store, src: str) -> None:
        """Keep the stored value only if its stamp is newer; acknowledge either way."""
        if msg.ts > self.ts:
            self.ts, self.value = msg.ts, msg.value
        self.reply(src, msg, StoreAck)

    # A naive quorum helper (part 4 replaces it): one send, and every reply counts, even a duplicate.
    def phase(self, request: Request, on_quorum: Callable[[dict], None]) -> None:
        """Send ``request`` to every replica; call ``on_quorum({replica: reply})`` after ``majority`` replies."""
        self.phases[request.req_id] = (on_quorum, [])
        self.broadcast(self.peers, request)

    def on_QueryReply(self, msg: QueryReply, src: str) -> None:
        """One replica's answer to a Query phase."""
        self._naive_answer(msg, src)

    def on_StoreAck(self, msg: StoreAck, src: str) -> None:
        """One replica's answer to a Store phase."""
        self._naive_answer(msg, src)

    def _naive_answer(self, msg: Reply, src: str) -> None:
        entry = self.phases.get(msg.reply_to)
        if entry is None:
            return
        on_quorum, replies = entry
        replies.append((src, msg))
        if len(replies) == self.majority:  # a duplicate counts too, and a lost message is never resent: part 4
            del self.phases[msg.reply_to]
            on_quorum(dict(replies))

    def answer_read(self, client: str, request: Read, ts: tuple, value: Any) -> None:
        """Answer a read with ``value`` at once (no write-back yet: part 3 overrides this)."""
        self.reply(client, request, ReadOk, value=value)


class Probe(Node):
    """A stand-in node for unit checks: it records every message it receives, with the time."""

    def init_volatile(self) -> None:
        """What arrived: (time, src, message)."""
        self.got: list = getattr(self, "got", [])

    def receive(self, msg: Any, src: str) -> None:
        """Record, never answer."""
        self.got.append((self.sim.now, src, msg))


# -- clients -------------------------------------------------------------------------------------

class _Client(Node):
    """A course client: one operation at a time, each to a coordinator, recorded in the history.

    ``script`` holds (earliest start ms, "read" or "write", value, coordinator) steps; a step
    starts at its time or when the previous one ended, whichever is later.  A timed-out read
    certainly had no effect ("fail"); a timed-out write may have ("info", pending).
    """

    def __init__(self, name: str, sim: Simulation, network: Network, script: list, history: History,
                 timeout_ms: float, on_done: Callable[[], None]) -> None:
        self.script = list(script)
        self.history = history
        self.timeout_ms = timeout_ms
        self.on_done = on_done
        self.done = False
        super().__init__(name, sim, network)

    def start(self) -> None:
        """Begin the script."""
        self._next()

    def _next(self) -> None:
        if not self.script:
            self.done = True
            self.on_done()
            return
        at, kind, value, target = self.script.pop(0)
        self.set_timer(max(at - self.sim.now, 0.0), self._issue, kind, value, target)

    def _issue(self, kind: str, value: Any, target: str) -> None:
        called = self.sim.now
        op_input = ("write", value) if kind == "write" else ("read", None)
        msg = Write(self.sim.next_id(), value) if kind == "write" else Read(self.sim.next_id())

        def on_reply(reply: Any, _src: str) -> None:
            # By name, not isinstance: the grader imports this module afresh, the notebook has its own copy.
            output = reply.value if type(reply).__name__ == "ReadOk" else None
            self._finish(Operation(self.name, op_input, called, output, self.sim.now))

        def on_timeout() -> None:
            status = "fail" if kind == "read" else "info"
            self._finish(Operation(self.name, op_input, called, None, self.sim.now if status == "fail" else INF,
                                   status))

        self.request(target, msg, self.timeout_ms, on_reply, on_timeout)

    def _finish(self, op: Operation) -> None:
        self.history.add(op)
        self._next()


# -- schedules -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Schedule:
    """One fault schedule and workload, as data: everything a run needs besides the class and the seed.

    ``peer_loss``, ``duplicate`` and ``reorder`` act on messages between replicas (a replica's
    message to itself included); client links are calm.

    ``scripts``: one script per client (see ``_Client``), or empty for a random workload of
    ``clients`` x ``operations`` (read share ``read_ratio``) through ``coordinators``.
    ``links``: one-way (src, dst, ms) latencies; ``slow_stores``: (src, dst, ms) for Store
    messages only; ``init``: (replica, ts, value) held at the start; ``pending``: values of
    writes whose client never heard back (their coordinator crashed half-way), put in the
    history as pending operations.
    """

    name: str
    n: int = 3
    faults: str = ""
    peer_loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    latency_ms: float = 5.0
    exponential: bool = True
    links: tuple = ()
    slow_stores: tuple = ()
    init: tuple = ()
    pending: tuple = ()
    scripts: tuple = ()
    clients: int = 3
    operations: int = 5
    read_ratio: float = 0.5
    coordinators: tuple = ()
    timeout_ms: float = 600.0
    until_ms: float = 6_000.0
    about: str = ""

    def describe(self, about: bool = True) -> str:
        """One line: replicas, network knobs and faults (and, with ``about``, the workload)."""
        knobs = [f"{self.n} replicas"]
        for label, v in (("loss between replicas", self.peer_loss),
                         ("duplicate", self.duplicate), ("reorder", self.reorder)):
            if v:
                knobs.append(f"{label} {v:g}")
        if self.faults:
            knobs.append(parse_faults(self.faults).describe())
        knobs += [f"{a}->{b} takes {ms:g} ms" for a, b, ms in self.links]
        knobs += [f"Store {a}->{b} takes {ms:g} ms" for a, b, ms in self.slow_stores]
        return ", ".join(knobs) + (f" ({self.about})" if self.about and about else "")


_R3 = ("r0", "r1", "r2")

#: The named schedules the checks use (and ``replay`` accepts).
SCHEDULES: dict = {s.name: s for s in [
    Schedule("calm", about="no faults"),
    Schedule("calm-5", n=5, clients=5, about="no faults"),
    Schedule("reorder", reorder=0.5, duplicate=0.2),
    Schedule("duplicates", duplicate=0.6),
    Schedule("loss", peer_loss=0.25, about="messages between replicas lost"),
    Schedule("heavy-loss", peer_loss=0.6, about="most messages between replicas lost"),
    Schedule("partition", operations=6, faults="r2|r0,r1@30-400;r0|r1,r2@450-800"),
    Schedule("crash-restart", faults="crash:r1@20-300;crash:r2@400-700"),
    Schedule("five-two-down", n=5, clients=3, coordinators=("r0", "r1", "r2"),
             faults="crash:r3@0;crash:r4@0", about="two of five replicas down for good"),
    Schedule("five-storm", n=5, clients=4, faults="r3,r4|r0,r1,r2@20-500;crash:r1@100-350", duplicate=0.3,
             reorder=0.3, peer_loss=0.1),
    Schedule("mixed", faults="crash:r0@50-250;r1|r0,r2@300-600", duplicate=0.3, reorder=0.3, peer_loss=0.15),
    # A write reached r0 only, then its coordinator crashed (its client never heard back).  Reader
    # c1 asks r1, whose quorum is {r0, r1}; then reader c2 asks r2, whose quorum is {r1, r2}.
    Schedule("inversion", exponential=False, latency_ms=1.0,
             init=(("r0", (1, "r0"), 1),), pending=(1,),
             links=(("r2", "r1", 1000.0), ("r0", "r2", 2000.0)),
             scripts=(((10.0, "read", None, "r1"),), ((30.0, "read", None, "r2"),)),
             timeout_ms=3_000.0, until_ms=8_000.0,
             about="a write that reached r0 only; two reads one after the other through r1, then r2"),
    # Two writes at once through two replicas; both see the same highest stamp.
    Schedule("twin-writes", exponential=False, latency_ms=1.0,
             init=(("r0", (3, "r2"), 7), ("r1", (3, "r2"), 7), ("r2", (3, "r2"), 7)),
             scripts=(((0.0, "write", 1, "r0"), (200.0, "read", None, "r0"), (400.0, "read", None, "r1")),
                      ((0.0, "write", 2, "r1"), (300.0, "read", None, "r1"), (500.0, "read", None, "r0"))),
             about="two concurrent writes through r0 and r1, after both saw stamp (3, 'r2')"),
    Schedule("twins", exponential=False, latency_ms=1.0,
             init=(("r0", (3, "r2"), 7), ("r1", (3, "r2"), 7), ("r2", (3, "r2"), 7)),
             scripts=(((0.0, "write", 1, "r0"),), ((0.0, "write", 2, "r1"),)),
             about="two concurrent writes through r0 and r1, after both saw stamp (3, 'r2'); no reads"),
    Schedule("behind", exponential=False, latency_ms=1.0, init=(("r1", (4, "r2"), 8), ("r2", (2, "r1"), 5)),
             slow_stores=(("r0", "r1", 300.0), ("r0", "r2", 300.0)), scripts=(((0.0, "write", 1, "r0"),),),
             about="r1 holds (4, 'r2') and r2 holds (2, 'r1'); one write through r0, whose Stores to r1 and r2 "
                   "take 300 ms"),
    Schedule("round", exponential=False, latency_ms=2.0,
             scripts=(((0.0, "write", 1, "r0"), (0.0, "write", 2, "r1"), (0.0, "write", 3, "r2"),
                       (0.0, "write", 4, "r0")),), about="four writes one after the other, through r0, r1, r2, r0"),
    Schedule("mixed-stamps", exponential=False, latency_ms=1.0,
             init=(("r0", (2, "r1"), 9), ("r1", (3, "r0"), 5), ("r2", (3, "r0"), 5)),
             scripts=(((0.0, "read", None, "r0"), (0.0, "read", None, "r1"), (0.0, "read", None, "r2")),),
             about="r0 holds 9 under stamp (2, 'r1'), r1 and r2 hold 5 under (3, 'r0'); a read through each"),
    Schedule("empty", exponential=False, latency_ms=1.0,
             scripts=(((0.0, "read", None, "r0"), (0.0, "read", None, "r1"), (0.0, "read", None, "r2")),),
             about="nobody wrote; a read through each replica"),
    Schedule("tied-counters", exponential=False, latency_ms=1.0,
             init=(("r0", (3, "r0"), 1), ("r1", (3, "r2"), 2), ("r2", (3, "r2"), 2)),
             scripts=(((0.0, "read", None, "r0"), (0.0, "read", None, "r1"), (0.0, "read", None, "r2")),),
             about="r0 holds 1 under (3, 'r0'), r1 and r2 hold 2 under (3, 'r2'); a read through each"),
    # Every message is delivered twice; a replica hears itself in 1 ms, the others in 50 ms.
    Schedule("echo", exponential=False, latency_ms=50.0, duplicate=1.0,
             links=(("r0", "r0", 1.0), ("r1", "r1", 1.0), ("r2", "r2", 1.0)),
             scripts=(((0.0, "write", 1, "r0"), (0.0, "read", None, "r1")),),
             timeout_ms=2_000.0, about="a write through r0, then at once a read through r1"),
    # One replica is gone for good (or cut off): the others must still finish every operation.
    Schedule("one-down", faults="crash:r2@0", clients=2, operations=6, coordinators=("r0", "r1"),
             timeout_ms=2_000.0, about="r2 crashed for good; clients use r0 and r1"),
    Schedule("one-cut-off", faults="r2|r0,r1@0-", clients=2, operations=6, coordinators=("r0", "r1"),
             timeout_ms=2_000.0,
             about="r2 cut off for good; clients use r0 and r1"),
]}


def schedule_named(name: "str | Schedule") -> Schedule:
    """A schedule by name (or the schedule itself)."""
    if not isinstance(name, str):  # a Schedule (maybe from another import of this module)
        return name
    if name not in SCHEDULES:
        raise ValueError(f"schedule={name!r} must be a known schedule; allowed: {', '.join(SCHEDULES)}")
    return SCHEDULES[name]


# -- one run -------------------------------------------------------------------------------------

class _LabNetwork(Network):
    """The kernel's network with its faults between replicas only, and a log of every Store sent.

    A client sits next to its coordinator: messages to and from clients are never lost,
    duplicated or reordered (a duplicated Write would be a second write of the same value,
    which no register algorithm can tell apart from a new one without client request ids).
    """

    def __init__(self, sim: Simulation, options: NetworkOptions, replicas: tuple, peer_loss: float,
                 slow_stores: dict) -> None:
        super().__init__(sim, options, leg_latency=self._leg)
        self._faulty = options
        self._calm = NetworkOptions(latency=options.latency)
        self.replica_names = frozenset(replicas)
        self.peer_loss = peer_loss
        self.slow_stores = slow_stores
        self._peer_rng = sim.rng("peer-loss")
        #: (time, src, dst, ts, value) of every Store any node sent.
        self.stores: list = []

    def _leg(self, src: str, dst: str, msg: Any) -> Optional[Latency]:
        if type(msg).__name__ == "Store" and (src, dst) in self.slow_stores:
            return self.slow_stores[(src, dst)]
        return None

    def send(self, src: str, dst: str, msg: Any) -> None:
        """Send as the kernel does; between two different replicas, maybe lose it first."""
        if type(msg).__name__ == "Store":
            self.stores.append((self.sim.now, src, dst, getattr(msg, "ts", None), getattr(msg, "value", None)))
        between_replicas = src in self.replica_names and dst in self.replica_names
        if self.peer_loss and between_replicas and src != dst and self._peer_rng.random() < self.peer_loss:
            self.sent += 1
            self.dropped += 1
            self.sim.record("drop", src, dst, type(msg).__name__, self.sim.next_id(), "loss")
            return
        self.options = self._faulty if between_replicas else self._calm
        try:
            super().send(src, dst, msg)
        finally:
            self.options = self._faulty


@dataclass
class ReplicaRun:
    """What one run produced: the history, every Store sent, the replicas, and why it stopped early (if it did)."""

    cls_name: str
    schedule: Schedule
    seed: int
    history: History
    stores: list
    replicas: dict
    stopped: str
    _result: Optional[CheckResult] = field(default=None, repr=False)

    def check(self) -> CheckResult:
        """The linearizability verdict on the history (computed once)."""
        if self._result is None:
            self._result = check_operations(register_model(), self.history, timeout=5)
        return self._result

    def replay_line(self) -> str:
        """The call that reproduces this run in the notebook (and draws its witness)."""
        return f"replay({self.cls_name}, {self.schedule.name!r}, seed={self.seed}).figure()"

    def where(self) -> str:
        """Seed and schedule, for a feedback line."""
        return f"seed {self.seed}, schedule {self.schedule.name!r} ({self.schedule.describe()})"

    def problem(self) -> Optional[str]:
        """None when the history is linearizable, else what went wrong, with how to replay it."""
        result = self.check()
        if result.ok:
            return None
        if result.verdict == "unknown":
            return f"{self.where()}: the checker could not decide in time ({result.reason})"
        return (f"{self.where()}, {len(self.history)} operations: {result.explain(width=10_000).splitlines()[0]} "
                f"Replay it and see the witness: {self.replay_line()}")

    def unfinished(self) -> list:
        """Operations that did not finish (timed out)."""
        return [op for op in self.history if op.status != "ok" and op.client_id != "w0"]

    def same_stamp_twice(self) -> Optional[tuple]:
        """(ts, value a, value b) when two different values were stored under one stamp, else None."""
        seen: dict = {}
        for _, _, _, ts, value in self.stores:
            try:
                first = seen.setdefault(ts, value)
            except TypeError:  # an unhashable stamp: the comparison checks report it
                return None
            if first != value:
                return ts, first, value
        return None

    def figure(self) -> Any:
        """The history as bars per client, with the checker's witness highlighted."""
        from consistency_lab.plots.history_plot import plot_history

        result = self.check()
        return plot_history(self.history, result, title=f"{self.cls_name}, {self.schedule.name!r}, seed {self.seed}: "
                                                         f"{result.verdict}")


def _scripts(s: Schedule, names: tuple, rng: Any) -> list:
    if s.scripts:
        return [list(script) for script in s.scripts]
    coordinators = s.coordinators or names
    if s.clients > len(coordinators):
        raise ValueError(f"clients={s.clients} must be at most the {len(coordinators)} coordinators")
    counter = iter(range(1, 10**6))
    scripts = []
    for c in range(s.clients):
        at, script = 0.0, []
        for _ in range(s.operations):
            at += rng.uniform(0.0, 30.0)
            # One client per coordinator: a replica never runs two of its clients' writes at once, so
            # (counter, its name) names each write once.
            target = coordinators[c]
            if rng.random() < s.read_ratio:
                script.append((at, "read", None, target))
            else:
                script.append((at, "write", next(counter), target))
        scripts.append(script)
    return scripts


def build_world(cls: type, s: Schedule, seed: int) -> tuple:
    """(sim, network, replicas) of one run, before any client or fault."""
    sim = Simulation(seed, max_events=EVENT_BUDGET)
    latency = Exponential(1.0 / s.latency_ms) if s.exponential else Constant(s.latency_ms)
    names = tuple(f"r{i}" for i in range(s.n))
    net = _LabNetwork(sim, NetworkOptions(latency=latency, duplicate=s.duplicate, reorder=s.reorder),
                      names, s.peer_loss, {(a, b): Constant(ms) for a, b, ms in s.slow_stores})
    replicas = {r: cls(r, sim, net, names) for r in names}
    for r, ts, value in s.init:
        replicas[r].ts, replicas[r].value = ts, value
    for a, b, ms in s.links:
        net.set_link_latency(a, b, Constant(ms), both_ways=False)
    return sim, net, replicas


def run_replicas(cls: type, schedule: "str | Schedule" = "calm", seed: int = 0, *,
                 name: Optional[str] = None) -> ReplicaRun:
    """Run ``cls`` on the schedule's replicas with course clients; the history, the Stores, the replicas.

    ``name`` is how the class is called in the replay line (default: its own name).
    """
    s = schedule_named(schedule)
    sim, net, replicas = build_world(cls, s, seed)
    names = tuple(replicas)
    history = History()
    for value in s.pending:
        history.add(Operation("w0", ("write", value), 0.0, None, INF, "info"))
    scripts = _scripts(s, names, sim.rng("workload"))
    finished = sim.env.event()
    clients: list = []

    def settled() -> None:
        if not finished.triggered and all(c.done for c in clients):
            finished.succeed()

    for i, script in enumerate(scripts):
        client = _Client(f"c{i}", sim, net, script, history, s.timeout_ms, settled)
        clients.append(client)
        for r in names:  # clients sit next to their replicas
            net.set_link_latency(client.name, r, Constant(1.0))
    net.apply(s.faults)
    for client in clients:
        client.start()
    reason = sim.run_bounded(s.until_ms, stop_when=finished)
    unfinished = [c.name for c in clients if not c.done]
    stopped = stop_note(reason, s.until_ms, "clients " + ", ".join(unfinished)) if unfinished else ""
    return ReplicaRun(name or cls.__name__, s, seed, history, net.stores, replicas, stopped)


@dataclass(frozen=True)
class PhaseRun:
    """One phase started by hand on a replica: when it ended, whose replies it got, how often it ended."""

    started: float
    ended: Optional[float]
    repliers: tuple
    endings: int


def run_phases(cls: type, schedule: "str | Schedule", seed: int = 0, *, at: str = "r0", count: int = 4,
               gap_ms: float = 500.0, until_ms: float = 4_000.0) -> list:
    """Start ``count`` Query phases on replica ``at`` (one every ``gap_ms``) and report each (a PhaseRun)."""
    s = schedule_named(schedule)
    sim, net, replicas = build_world(cls, s, seed)
    net.apply(s.faults)
    node = replicas[at]
    log: list = []

    def start(i: int) -> None:
        log.append([sim.now, None, (), 0])

        def on_quorum(replies: Any) -> None:
            entry = log[i]
            entry[3] += 1
            if entry[1] is None:
                entry[1], entry[2] = sim.now, tuple(sorted(replies)) if isinstance(replies, dict) else ()

        node.phase(Query(sim.next_id()), on_quorum)

    for i in range(count):
        sim.schedule(i * gap_ms, start, i)
    sim.run_bounded(until_ms)
    return [PhaseRun(started, ended, repliers, endings) for started, ended, repliers, endings in log]


def replay(cls: type, schedule: "str | Schedule", seed: int = 0) -> ReplicaRun:
    """Run ``cls`` again exactly as a failing check did (same schedule, same seed)."""
    return run_replicas(cls, schedule, seed)

