"""Run any CRDT of ``consistency_lab.crdt`` on simulated nodes over the faulty network.

Three ways to keep replicas in step, chosen by ``sync``:

* ``state``: every ``sync_ms`` each node sends its whole state to ``fanout`` random peers
  (gossip); no acks, no retransmission: the next round repairs any loss.
* ``delta``: each node keeps a log of the deltas that changed its state (its own updates and
  received deltas that were new to it, so news travels around a cut link) and, every
  ``sync_ms``, sends each peer the join of the log since that peer's last ack.  A receiver
  joins an interval only if it starts right after what it already has from that sender,
  then acks; otherwise it acks what it has and the sender resends from there.  That keeps
  delta-merging causal (Almeida et al., "Delta state replicated data types", 2018), which RGA
  needs and the others do not mind.
* ``ops``: reliable causal broadcast (:mod:`.causal_broadcast`): each node numbers its own
  updates and broadcasts them with the vector of what it had delivered; a receiver holds an
  update back until every update it depends on is delivered (causal delivery), applies it once,
  and acks; every ``sync_ms`` the origin resends what a peer has not acked, at most
  ``causal_broadcast.BATCH`` updates per message.  Only the origin sends its updates (no
  relaying), so a replica cut off from one origin waits for the heal even where a third replica
  could relay; state and delta sync route around such a cut.

An update's payload is what the CRDT operation returned: a delta of the same type (joined
with ``merge_in``) or, for RGA, an op (``apply``).  The oracle ``expected`` is the join of
every payload issued (for RGA: every op applied in issue order), so "converged" means each
replica equals it, not merely each other.  CRDT state is durable (it is the document on
disk); a crash loses only timers, and ``on_restart`` starts them again.

Every run is bounded: ``Simulation(seed, max_events=max_events)`` and ``run_bounded`` up to
the last update, the last fault and ``settle_ms`` after both; ``stopped`` says which bound
ended a run that had not converged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import reduce
from typing import Any, Optional, Sequence, Union

from ..crdt import CRDT, CRDT_TYPES, RGA, RGAOp
from ..faults import FaultSchedule
from ..latency import Latency
from ..network import Network, NetworkOptions
from ..node import Message, Node
from ..sim import Simulation
from ..validation import choice, count, non_negative, positive, probability, text
from .causal_broadcast import CausalBroadcast, OpAck, OpBatch

__all__ = ["SYNC_MODES", "CRDT_KINDS", "CrdtUpdate", "CrdtSyncResult", "CrdtReplica", "run_crdt",
           "StateGossip", "DeltaInterval", "DeltaAck", "OpBatch", "OpAck"]

SYNC_MODES = ("state", "delta", "ops")
CRDT_KINDS = tuple(sorted(CRDT_TYPES))
MAX_EVENTS = 300_000  # the course's event budget (scenarios.base.EVENT_BUDGET; not importable from here)
Payload = Union[CRDT, RGAOp, tuple]


@dataclass(frozen=True)
class CrdtUpdate:
    """One update: at ``at_ms`` virtual time, node ``node`` calls ``op(*args)`` on its replica."""

    at_ms: float
    node: str
    op: str
    args: tuple = ()


# -- messages ------------------------------------------------------------------------------
@dataclass(frozen=True)
class StateGossip(Message):
    """The sender's whole state (a copy, so later local updates do not change it in flight)."""

    state: CRDT


@dataclass(frozen=True)
class DeltaInterval(Message):
    """Deltas ``first``..``last`` of the sender's log, joined (RGA: the ops, in order)."""

    first: int
    last: int
    delta: Payload


@dataclass(frozen=True)
class DeltaAck(Message):
    """I hold every delta of your log up to ``upto``."""

    upto: int


def payload_bytes(payload: Payload) -> int:
    """Wire size estimate of a payload: the length of its canonical repr."""
    if isinstance(payload, CRDT):
        return payload.wire_size()
    if isinstance(payload, tuple):
        return sum(payload_bytes(p) for p in payload)
    return len(repr(payload))


# -- the node ------------------------------------------------------------------------------
class CrdtReplica(Node):
    """One replica of a CRDT, kept in step with its peers by one of the ``SYNC_MODES``."""

    def __init__(self, name: str, sim: Simulation, network: Network, crdt: CRDT, *, sync: str,
                 peers: Sequence[str], sync_ms: float, fanout: int, on_change=None) -> None:
        self.crdt = crdt
        self.sync = sync
        self.peers = [p for p in peers if p != name]
        self.sync_ms = sync_ms
        self.fanout = min(fanout, len(self.peers))
        self.on_change = on_change  # called after every change of state (the runner watches convergence)
        self.bytes_sent = 0
        # delta mode (durable: the log is part of what the replica stores)
        self.delta_log: list[Payload] = []
        self._sent: dict[str, tuple[int, int, Payload, int]] = {}  # peer -> the last interval built for it
        self.acked: dict[str, int] = {p: 0 for p in self.peers}
        self.got: dict[str, int] = {p: 0 for p in self.peers}
        # ops mode (durable, like the delta log)
        self.cast = CausalBroadcast(peers if name in peers else [name, *peers], name, self._deliver) \
            if sync == "ops" else None
        self._op_bytes = [0]  # _op_bytes[i]: wire size of my first i updates (each computed once)
        self._news = False  # whether the batch being received changed the state
        self._rng = sim.rng(f"crdt-sync/{name}")
        super().__init__(name, sim, network)
        self._start_timer(first=True)

    # -- timers -----------------------------------------------------------------------------
    def _start_timer(self, first: bool = False) -> None:
        # a random phase, so nodes do not all gossip at the same instant
        delay = self._rng.uniform(0, self.sync_ms) if first else self.sync_ms
        self.set_timer(delay, self._tick)

    def on_restart(self) -> None:
        """Timers died with the crash; the state did not."""
        self._start_timer(first=True)

    def _tick(self) -> None:
        if self.sync == "state":
            for peer in self._rng.sample(self.peers, self.fanout):
                self._send(peer, StateGossip(self.crdt.copy()), payload_bytes(self.crdt))
        elif self.sync == "delta":
            for peer in self.peers:
                if self.acked[peer] < len(self.delta_log):
                    first, last, delta, size = self._interval(peer)
                    self._send(peer, DeltaInterval(first, last, delta), size)
        else:
            sizes = self._op_bytes
            for peer, batch in self.cast.batches():
                self._send(peer, batch, sizes[batch.first - 1 + len(batch.ops)] - sizes[batch.first - 1])
        self._start_timer()

    def _interval(self, peer: str) -> tuple[int, int, Payload, int]:
        """The join of the log since ``peer``'s ack, extended from the last one sent rather than redone:
        a peer behind a long cut would otherwise cost a join of the whole log every round."""
        first, last = self.acked[peer] + 1, len(self.delta_log)
        cached = self._sent.get(peer)
        if cached is not None and cached[0] == first:
            _, upto, joined, size = cached
            if upto < last:
                fresh = self._join(self.delta_log[upto:])
                joined = self._join([joined, fresh])  # a new object: the one in flight stays as it was
                size = payload_bytes(joined)
        else:
            joined = self._join(self.delta_log[first - 1:])
            size = payload_bytes(joined)
        self._sent[peer] = (first, last, joined, size)
        return first, last, joined, size

    def _send(self, peer: str, msg: Message, size: int) -> None:
        if self.alive:
            self.bytes_sent += size
        self.send(peer, msg)

    # -- local updates ----------------------------------------------------------------------
    def update(self, op: str, args: tuple) -> Payload:
        """Run ``op(*args)`` on the local replica and queue what it returned for the peers."""
        payload = getattr(self.crdt, op)(*args)
        if isinstance(payload, list):  # insert_text / delete_range: several RGA ops
            payload = tuple(payload)
        if self.sync == "delta":
            self.delta_log.append(payload)
        elif self.sync == "ops":
            op = self.cast.publish(payload)
            self._op_bytes.append(self._op_bytes[-1] + payload_bytes(payload) + len(repr(op.deps)))
        self._changed()
        return payload

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    def _join(self, payloads: Sequence[Payload]) -> Payload:
        if isinstance(self.crdt, RGA):
            return tuple(op for p in payloads for op in (p if isinstance(p, tuple) else (p,)))
        return payloads[0] if len(payloads) == 1 else reduce(lambda a, b: a.merge(b), payloads)

    def _absorb(self, payload: Payload, report: bool = True) -> Optional[Payload]:
        """Join a delta or apply RGA ops; return what was new (None: nothing).  ``report=False`` skips
        the O(state) before/after comparison and returns the payload as if it were all new."""
        if not isinstance(payload, CRDT):  # RGA ops (state gossip of an RGA is a CRDT: joined below)
            ops = payload if isinstance(payload, tuple) else (payload,)
            # only the ops that changed something: a forwarded interval must not carry old ones again
            new = tuple(op for op in ops if self.crdt.apply(op))  # type: ignore[attr-defined]
            return new or None
        if not report:
            self.crdt.merge_in(payload)
            return payload
        before = self.crdt.canonical()
        self.crdt.merge_in(payload)
        return payload if self.crdt.canonical() != before else None

    # -- handlers ---------------------------------------------------------------------------
    def on_StateGossip(self, msg: StateGossip, src: str) -> None:
        """Join a peer's whole state."""
        # no before/after comparison: nothing but the convergence watch needs to know, and it compares anyway
        self._absorb(msg.state, report=False)
        self._changed()

    def on_DeltaInterval(self, msg: DeltaInterval, src: str) -> None:
        """Join an interval that continues what we have from ``src``, then ack."""
        if msg.first <= self.got[src] + 1:
            if msg.last > self.got[src]:
                news = self._absorb(msg.delta)
                if news is not None:
                    self.delta_log.append(news)  # new to us: pass it on to the others
                    self._changed()
                self.got[src] = msg.last
        self._send(src, DeltaAck(self.got[src]), 8)

    def on_DeltaAck(self, msg: DeltaAck, src: str) -> None:
        """The peer holds our log up to ``upto``."""
        self.acked[src] = max(self.acked[src], msg.upto)

    def on_OpBatch(self, msg: OpBatch, src: str) -> None:
        """Hold the updates, deliver every one whose dependencies are delivered, ack."""
        ack = self.cast.receive(msg)
        if self._news:
            self._news = False
            self._changed()
        self._send(src, ack, 8)

    def _deliver(self, origin: int, payload: Payload) -> None:
        # each update arrives exactly once, so skip the O(state) before/after comparison of a delta
        self._news = self._absorb(payload, report=False) is not None or self._news

    def on_OpAck(self, msg: OpAck, src: str) -> None:
        """The peer has delivered our updates up to ``upto``."""
        self.cast.on_ack(msg, src)


# -- the run -------------------------------------------------------------------------------
@dataclass
class CrdtSyncResult:
    """What a run did: each replica's final state and value, the oracle, time to converge, traffic."""

    kind: str
    sync: str
    seed: int
    replicas: dict[str, CRDT]
    values: dict[str, Any]
    expected: CRDT
    converged: bool
    converged_at_ms: Optional[float]
    last_update_ms: float
    messages: int
    bytes: int
    updates: list[CrdtUpdate] = field(default_factory=list)
    payloads: list = field(default_factory=list)  # what each issued update returned (deltas or RGA ops)
    skipped: int = 0
    stopped: str = ""
    trace_digest: str = ""
    why: str = ""  # what ended the run: run_bounded's "done", "time", "idle" or "events"
    bound_ms: float = 0.0  # the virtual-time bound the run was given

    @property
    def convergence_ms(self) -> Optional[float]:
        """From the last update to the moment every replica equalled the oracle (None: never)."""
        return None if self.converged_at_ms is None else self.converged_at_ms - self.last_update_ms


def _random_update(kind: str, crdt: CRDT, node: Node, rng, i: int, last_stamp: dict) -> tuple[str, tuple]:
    """A plausible update for ``kind`` given the replica's current state (drawn from ``rng``)."""
    coin = rng.random()
    if kind == "gcounter":
        return "increment", (rng.randint(1, 5),)
    if kind == "pncounter":
        return ("increment" if coin < 0.6 else "decrement"), (rng.randint(1, 5),)
    if kind == "gset":
        return "add", (rng.randrange(20),)
    if kind == "twopset":
        present = sorted(crdt.value())
        if present and coin < 0.4:
            return "remove", (rng.choice(present),)
        return "add", (rng.randrange(10),)
    if kind == "orset":
        return ("add" if coin < 0.6 else "remove"), (rng.randrange(8),)
    if kind in ("lwwregister", "lwwmap"):
        # the node's skewed clock, nudged so one node's stamps strictly increase
        stamp = max(node.clock(), last_stamp.get(node.name, -math.inf) + 0.001)
        last_stamp[node.name] = stamp
        if kind == "lwwregister":
            return "set", (f"{node.name}:{i}", stamp)
        if coin < 0.25:
            return "delete", (rng.randrange(5), stamp)
        return "set", (rng.randrange(5), f"{node.name}:{i}", stamp)
    if kind == "mvregister":
        return "set", (f"{node.name}:{i}",)
    assert isinstance(crdt, RGA)
    if len(crdt) and coin < 0.3:
        return "delete", (rng.randrange(len(crdt)),)
    return "insert", (rng.randrange(len(crdt) + 1), chr(0x4E00 + i))  # unique characters


def _oracle(kind: str, payloads: list[Payload]) -> CRDT:
    expected = CRDT_TYPES[kind]("expected")
    for payload in payloads:
        if isinstance(expected, RGA):
            for op in payload if isinstance(payload, tuple) else (payload,):
                expected.apply(op)
        else:
            expected.merge_in(payload)
    return expected


def run_crdt(kind: str, seed: int = 0, *, nodes: int = 3, updates: Union[int, Sequence[CrdtUpdate]] = 30,
             sync: str = "state", duration_ms: float = 2000.0, sync_ms: float = 50.0, fanout: int = 1,
             latency: Union[Latency, str, float] = 5.0, loss: float = 0.0, duplicate: float = 0.0,
             reorder: float = 0.0, faults: Union[FaultSchedule, str, None] = None,
             clock_skew_ms: Optional[Sequence[float]] = None, settle_ms: float = 5000.0,
             max_events: int = MAX_EVENTS) -> CrdtSyncResult:
    """Run ``kind`` on ``nodes`` replicas (r0, r1, ...) with ``updates`` (a count drawn at random over
    ``duration_ms``, or explicit ``CrdtUpdate`` records), kept in step by ``sync``; return the result."""
    choice("kind", kind, CRDT_KINDS)
    choice("sync", sync, SYNC_MODES)
    count("nodes", nodes, low=1, high=50)
    positive("duration_ms", duration_ms, "ms")
    positive("sync_ms", sync_ms, "ms")
    count("fanout", fanout, low=1)
    for name, p in (("loss", loss), ("duplicate", duplicate), ("reorder", reorder)):
        probability(name, p)
    non_negative("settle_ms", settle_ms, "ms")
    count("max_events", max_events, low=1)
    names = [f"r{i}" for i in range(nodes)]
    if clock_skew_ms is None:
        clock_skew_ms = [0.0] * nodes
    if len(clock_skew_ms) != nodes:
        raise ValueError(f"clock_skew_ms={list(clock_skew_ms)!r} must have one entry per node; "
                         f"allowed: {nodes} numbers")

    sim = Simulation(seed, max_events=max_events)
    network = Network(sim, NetworkOptions(latency=latency, loss=loss, duplicate=duplicate, reorder=reorder))
    watch = _Watch(sim)
    replicas = {}
    for name, skew in zip(names, clock_skew_ms):
        replicas[name] = CrdtReplica(name, sim, network, CRDT_TYPES[kind](name), sync=sync, peers=names,
                                     sync_ms=sync_ms, fanout=fanout, on_change=watch.changed)
        replicas[name].clock_skew_ms = float(skew)
    schedule = network.apply(faults)

    if isinstance(updates, int) and not isinstance(updates, bool):
        count("updates", updates, low=0, high=100_000)
        rng = sim.rng("crdt-workload")
        times = sorted(rng.uniform(0, duration_ms) for _ in range(updates))
        plan: list[Optional[CrdtUpdate]] = [None] * updates
        at_node = [rng.choice(names) for _ in range(updates)]
    else:
        plan = list(updates)
        for u in plan:
            if not isinstance(u, CrdtUpdate):
                raise ValueError(f"updates item {u!r} must be a CrdtUpdate; allowed: CrdtUpdate(at_ms, node, op, args)")
            non_negative("at_ms", u.at_ms, "ms")
            choice("node", text("node", u.node), names)
        plan.sort(key=lambda u: u.at_ms)  # type: ignore[union-attr]
        times = [u.at_ms for u in plan]  # type: ignore[union-attr]
        at_node = [u.node for u in plan]  # type: ignore[union-attr]
    issued: list[CrdtUpdate] = []
    payloads: list[Payload] = []
    skipped = [0]
    workload_rng = sim.rng("crdt-workload-ops")
    last_stamp: dict[str, float] = {}

    def issue(i: int) -> None:
        node = replicas[at_node[i]]
        if not node.alive:
            skipped[0] += 1
        else:
            planned = plan[i]
            op, args = (planned.op, planned.args) if planned is not None else \
                _random_update(kind, node.crdt, node, workload_rng, i, last_stamp)
            payloads.append(node.update(op, args))
            issued.append(CrdtUpdate(sim.now, node.name, op, args))
        if i == len(times) - 1:
            watch.arm(_oracle(kind, payloads), replicas)

    for i, t in enumerate(times):
        sim.schedule(t, issue, i)
    last_update = times[-1] if times else 0.0
    if not times:
        watch.arm(_oracle(kind, payloads), replicas)
    heal = schedule.last_heal()
    bound = max(last_update, 0.0 if math.isinf(heal) else heal) + settle_ms
    why = sim.run_bounded(bound, stop_when=watch.done)
    converged = watch.done.processed or watch.all_equal()
    stopped = ""
    if not converged:
        what = "the event budget" if why == "events" else f"the time bound ({bound:g} ms)"
        if why != "events" and math.isinf(heal):
            what += "; a fault never heals"
        differ = [n for n, r in replicas.items() if watch.expected is None or r.crdt != watch.expected]
        stopped = f"stopped by {what}: replicas {', '.join(differ)} had not converged"
    return CrdtSyncResult(
        kind=kind, sync=sync, seed=seed, replicas={n: r.crdt for n, r in replicas.items()},
        values={n: r.crdt.value() for n, r in replicas.items()}, expected=watch.expected or _oracle(kind, payloads),
        converged=bool(converged), converged_at_ms=watch.at if converged else None, last_update_ms=last_update,
        messages=network.sent, bytes=sum(r.bytes_sent for r in replicas.values()), updates=issued,
        payloads=payloads, skipped=skipped[0], stopped=stopped, trace_digest=sim.trace_digest(),
        why=why, bound_ms=bound)


class _Watch:
    """Fires ``done`` the first time, after the last update, that every replica equals the oracle."""

    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.done = sim.env.event()
        self.expected: Optional[CRDT] = None
        self._canonical: Any = None
        self.replicas: dict[str, CrdtReplica] = {}
        self.equal: set[str] = set()
        self.at: Optional[float] = None

    def arm(self, expected: CRDT, replicas: dict[str, CrdtReplica]) -> None:
        """The last update is issued: from now on compare replicas with ``expected``."""
        self.expected, self._canonical, self.replicas = expected, expected.canonical(), replicas
        for node in replicas.values():
            self.changed(node)

    def changed(self, node: CrdtReplica) -> None:
        """A replica's state changed (called by the node)."""
        if self.expected is None or self.done.triggered or node.name in self.equal:
            return  # a replica equal to the oracle stays equal: states only grow, and nothing is issued
        if node.crdt.canonical() == self._canonical:
            self.equal.add(node.name)
        if len(self.equal) == len(self.replicas):
            self.at = self.sim.now
            self.done.succeed()

    def all_equal(self) -> bool:
        """Whether every replica equals the oracle now."""
        return self.expected is not None and all(r.crdt == self.expected for r in self.replicas.values())
