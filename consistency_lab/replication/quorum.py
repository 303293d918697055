"""A leaderless quorum store (Dynamo style): N replicas, reads of R, writes of W.

Any node can coordinate.  A write goes to the replicas (all N, or only W chosen at
random with ``fanout="quorum"``) and succeeds once W of them acknowledge; a read
asks R (or all N) and returns the newest version among the first R answers.  When
R + W > N every read quorum overlaps every write quorum, so a read that starts after
a write finished sees it; when R + W <= N it may not.  Overlap alone is not
linearizability: a read can see a write that is still in flight on one replica, and a
later read can miss it; and with skewed clocks last-writer-wins can order a later
write *before* an earlier one.  Blocking read repair fixes the first.  The second
needs stamps that respect real time: clocks that agree, a write that first asks a
quorum for the highest stamp (multi-writer ABD, not implemented here), or ordering
by consensus instead of by clocks.

Repairs that make replicas converge:

* **read repair**: a read that saw an older version on some replica sends it the newer.
  ``read_repair="async"`` answers the client first and repairs afterwards (Dynamo,
  Cassandra's background repair); ``"blocking"`` writes the value it is about to return
  back to a write quorum *before* answering (the write-back phase of ABD, Attiya, Bar-Noy
  and Dolev 1995), which is what makes the register linearizable; ``"off"`` never repairs;
* **hinted handoff**: a coordinator keeps writes a replica missed and retries them;
* **anti-entropy**: replicas periodically swap their whole state with a random peer.

Conflicts are settled by last-writer-wins on a (clock, counter, node) timestamp, or
kept as *siblings* tracked by vector clocks, as in Dynamo and Riak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..clocks import VectorClock
from ..network import Network
from ..node import Message, Node, Reply, Request
from ..sim import Simulation
from .client import ClientRead, ClientWrite, ReadOk, WriteOk

__all__ = ["Version", "QuorumCoordinator", "QuorumReplica", "CONFLICT_MODES", "FANOUTS", "READ_REPAIR_MODES",
           "merge_versions", "read_repair_mode"]

CONFLICT_MODES = ("lww", "siblings")
FANOUTS = ("all", "quorum")
READ_REPAIR_MODES = ("off", "async", "blocking")


def read_repair_mode(value: "str | bool") -> str:
    """Validate a read-repair setting; ``False``/``True`` are read as "off"/"async" (older callers)."""
    if isinstance(value, bool):
        return "async" if value else "off"
    if value not in READ_REPAIR_MODES:
        raise ValueError(f"read_repair={value!r} must be one of {', '.join(READ_REPAIR_MODES)}")
    return value


@dataclass(frozen=True, order=True)
class Version:
    """A value with its last-writer-wins stamp and its vector clock."""

    stamp: tuple  # (clock_ms, counter, node): total order for last-writer-wins
    value: Any
    clock: VectorClock = VectorClock()


def merge_versions(a: tuple, b: tuple, conflicts: str) -> tuple:
    """Merge two sibling sets: keep the newest (lww) or every version nobody dominates."""
    if not a:
        return b
    if not b:
        return a
    if conflicts == "lww":
        return (max(a[0], b[0]),)
    both = {v.stamp: v for v in a + b}  # dict keyed by stamp: dedupes identical versions
    keep = [v for v in both.values()
            if not any(v.clock < o.clock for o in both.values())]
    return tuple(sorted(keep))


@dataclass(frozen=True)
class Put(Request):
    """Coordinator -> replica: store this version of ``key``."""

    key: str
    versions: tuple


@dataclass(frozen=True)
class PutAck(Reply):
    """Replica -> coordinator: stored."""


@dataclass(frozen=True)
class Get(Request):
    """Coordinator -> replica: what do you hold for ``key``?"""

    key: str


@dataclass(frozen=True)
class GetReply(Reply):
    """Replica -> coordinator: my versions of ``key``."""

    versions: tuple


@dataclass(frozen=True)
class Gossip(Message):
    """Anti-entropy: my whole state; ``reply`` asks the peer to send its own back."""

    state: tuple  # ((key, versions), ...)
    reply: bool


def _value_of(versions: tuple) -> Any:
    if not versions:
        return None
    if len(versions) == 1:
        return versions[0].value
    return tuple(v.value for v in versions)


class QuorumCoordinator:
    """Mixin that runs quorum writes and reads from any node (replica or client)."""

    def setup_coordinator(self, replicas: list[str], n: int, r: int, w: int, *, conflicts: str,
                          fanout: str, timeout_ms: Optional[float], read_repair: "str | bool",
                          hinted_handoff: bool, handoff_interval_ms: float) -> None:
        """Configure the quorum sizes and repair mechanisms."""
        self.replicas = list(replicas)
        self.n, self.r, self.w = n, r, w
        self.conflicts = conflicts
        self.fanout = fanout
        self.op_timeout_ms = timeout_ms
        self.read_repair = read_repair_mode(read_repair)
        self.hinted_handoff = hinted_handoff
        self.handoff_interval_ms = handoff_interval_ms
        self._stamp_counter = 0
        self._crng = self.sim.rng(f"coordinator/{self.name}")
        self.hints: dict[tuple[str, str], tuple] = {}  # (replica, key) -> versions it missed

    def _targets(self, size: int) -> list[str]:
        if self.fanout == "all":
            return list(self.replicas)
        return self._crng.sample(self.replicas, size)

    def new_version(self, value: Any, context: tuple = ()) -> Version:
        """A version that supersedes ``context`` (the versions this node has seen)."""
        self._stamp_counter += 1
        clock = VectorClock()
        for v in context:
            clock = clock.merge(v.clock)
        return Version((self.clock(), self._stamp_counter, self.name), value, clock.tick(self.name))

    def coordinate_write(self, key: str, version: Version, on_done: Callable[[bool], None]) -> None:
        """Send the version to the replicas; ``on_done(True)`` after W acks, ``False`` on timeout."""
        state = {"acks": 0, "done": False}
        versions = (version,)
        targets = self._targets(self.w)

        def acked(_reply: Any, src: str) -> None:
            state["acks"] += 1
            self.hints.pop((src, key), None)
            if not state["done"] and state["acks"] >= self.w:
                state["done"] = True
                on_done(True)

        def missed(target: str) -> None:
            if self.hinted_handoff:
                self.hints[(target, key)] = merge_versions(self.hints.get((target, key), ()), versions, self.conflicts)
            if not state["done"]:
                state["done"] = True
                on_done(False)

        for target in targets:
            self.request(target, Put(self.sim.next_id(), key, versions), self.op_timeout_ms,
                         acked, lambda t=target: missed(t))

    def coordinate_read(self, key: str, on_done: Callable[[bool, tuple], None]) -> None:
        """Ask replicas for ``key``; ``on_done(True, versions)`` after R replies, else False.

        With ``read_repair="blocking"`` the answer waits until W replicas hold what it returns.
        """
        state: dict[str, Any] = {"replies": {}, "done": False}
        targets = self._targets(self.r)
        started = self.sim.now

        def answered(reply: GetReply, src: str) -> None:
            replies = state["replies"]
            replies[src] = reply.versions
            if state["done"]:
                if self.read_repair != "off":  # a straggler: repair it on its own
                    self._repair(key, state["merged"], src, reply.versions)
                return
            if len(replies) >= self.r:
                state["done"] = True
                merged: tuple = ()
                for vs in replies.values():
                    merged = merge_versions(merged, vs, self.conflicts)
                state["merged"] = merged
                if self.read_repair == "blocking":
                    self._write_back(key, merged, replies, started, on_done)
                    return
                on_done(True, merged)
                if self.read_repair == "async":
                    for other, seen in replies.items():
                        self._repair(key, merged, other, seen)

        def timed_out() -> None:
            if not state["done"]:
                state["done"] = True
                on_done(False, ())

        for target in targets:
            self.request(target, Get(self.sim.next_id(), key), self.op_timeout_ms, answered, timed_out)

    def _write_back(self, key: str, merged: tuple, replies: dict, started: float,
                    on_done: Callable[[bool, tuple], None]) -> None:
        """ABD's second phase: answer only once W replicas are known to hold ``merged``."""
        holders = {src for src, seen in replies.items() if merge_versions(seen, merged, self.conflicts) == seen}
        if len(holders) >= self.w or not merged:
            # A write quorum already holds it (or there is nothing to spread): a later read
            # overlaps that quorum, so answering now cannot be undone.
            on_done(True, merged)
            return
        left = None if self.op_timeout_ms is None else self.op_timeout_ms - (self.sim.now - started)
        if left is not None and left <= 0:
            on_done(False, ())
            return
        state = {"holders": holders, "done": False}

        def acked(_reply: Any, src: str) -> None:
            state["holders"].add(src)
            if not state["done"] and len(state["holders"]) >= self.w:
                state["done"] = True
                on_done(True, merged)

        def missed() -> None:
            if not state["done"]:
                state["done"] = True
                on_done(False, ())

        others = [t for t in self._targets(self.w) if t not in holders]
        for target in others:
            self.request(target, Put(self.sim.next_id(), key, merged), left, acked, missed)

    def _repair(self, key: str, merged: tuple, src: str, seen: tuple) -> None:
        """Send the merged versions to a replica whose answer was older."""
        if merge_versions(seen, merged, self.conflicts) != seen:
            self.send(src, Put(self.sim.next_id(), key, merged))

    def _handoff_tick(self) -> None:
        for (target, key), versions in sorted(self.hints.items(), key=lambda kv: kv[0]):
            def delivered(_reply: Any, src: str, k: str = key) -> None:
                self.hints.pop((src, k), None)
            self.request(target, Put(self.sim.next_id(), key, versions), self.op_timeout_ms, delivered)
        self.set_timer(self.handoff_interval_ms, self._handoff_tick)


class QuorumReplica(QuorumCoordinator, Node):
    """A replica that stores versions and coordinates operations for its clients."""

    def __init__(self, name: str, sim: Simulation, network: Network, *, region: Optional[str],
                 replicas: list[str], n: int, r: int, w: int, conflicts: str = "lww",
                 fanout: str = "all", timeout_ms: Optional[float] = 500.0, read_repair: "str | bool" = "async",
                 hinted_handoff: bool = True, handoff_interval_ms: float = 200.0,
                 anti_entropy_ms: float = 0.0, clock_skew_ms: float = 0.0,
                 on_change: Optional[Callable[["QuorumReplica"], None]] = None) -> None:
        if conflicts not in CONFLICT_MODES:
            raise ValueError(f"conflicts={conflicts!r} must be one of {', '.join(CONFLICT_MODES)}")
        if fanout not in FANOUTS:
            raise ValueError(f"fanout={fanout!r} must be one of {', '.join(FANOUTS)}")
        self.store: dict[str, tuple] = {}  # durable
        self.anti_entropy_ms = anti_entropy_ms
        self.on_change = on_change
        super().__init__(name, sim, network, region=region, clock_skew_ms=clock_skew_ms)
        self.setup_coordinator(replicas, n, r, w, conflicts=conflicts, fanout=fanout,
                               timeout_ms=timeout_ms, read_repair=read_repair,
                               hinted_handoff=hinted_handoff, handoff_interval_ms=handoff_interval_ms)
        self._gossip_rng = sim.rng(f"anti-entropy/{name}")

    def init_volatile(self) -> None:
        """Hints and request bookkeeping live in memory and are lost on a crash."""
        self.hints = {}

    def start(self) -> None:
        """Start the periodic repair processes."""
        if self.hinted_handoff:
            self.set_timer(self.handoff_interval_ms, self._handoff_tick)
        if self.anti_entropy_ms > 0:
            self.set_timer(self._gossip_rng.uniform(0, self.anti_entropy_ms), self._gossip_tick)

    def on_restart(self) -> None:
        """Resume repairs after a restart."""
        self.start()

    def value(self, key: str = "x") -> Any:
        """The value this replica holds for ``key`` (a tuple when there are siblings)."""
        return _value_of(self.store.get(key, ()))

    def _store(self, key: str, versions: tuple) -> None:
        old = self.store.get(key, ())
        new = merge_versions(old, versions, self.conflicts)
        if new != old:
            self.store[key] = new
            if self.on_change is not None:
                self.on_change(self)

    # -- replica role --------------------------------------------------------
    def on_Put(self, msg: Put, src: str) -> None:
        """Store the versions and acknowledge."""
        self._store(msg.key, msg.versions)
        self.reply(src, msg, PutAck)

    def on_Get(self, msg: Get, src: str) -> None:
        """Answer with what this replica holds."""
        self.reply(src, msg, GetReply, versions=self.store.get(msg.key, ()))

    def on_Gossip(self, msg: Gossip, src: str) -> None:
        """Merge a peer's state; answer with ours if asked."""
        for key, versions in msg.state:
            self._store(key, versions)
        if msg.reply:
            self.send(src, Gossip(tuple(sorted(self.store.items())), False))

    def _gossip_tick(self) -> None:
        peers = [p for p in self.replicas if p != self.name]
        if peers:
            peer = peers[self._gossip_rng.randrange(len(peers))]
            self.send(peer, Gossip(tuple(sorted(self.store.items())), True))
        self.set_timer(self.anti_entropy_ms, self._gossip_tick)

    # -- coordinator role ----------------------------------------------------
    def on_ClientWrite(self, msg: ClientWrite, src: str) -> None:
        """Coordinate a quorum write for a client."""
        version = self.new_version(msg.value, self.store.get(msg.key, ()))

        def done(ok: bool) -> None:
            if ok:
                self.reply(src, msg, WriteOk)
            # On failure stay silent: the client times out and records "unknown",
            # which is the truth: some replicas may hold the write.
        self.coordinate_write(msg.key, version, done)

    def on_ClientRead(self, msg: ClientRead, src: str) -> None:
        """Coordinate a quorum read for a client."""
        def done(ok: bool, versions: tuple) -> None:
            if ok:
                self.reply(src, msg, ReadOk, value=_value_of(versions))
        self.coordinate_read(msg.key, done)
