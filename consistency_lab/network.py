"""A lossy, slow, partitionable network between named nodes.

The network decides, for every message, whether it arrives, when, and how many
times.  All of its choices come from the simulation's ``"network"`` random stream,
and all of them are written to the trace, so a space-time diagram can show exactly
what the protocol had to cope with.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional

from .faults import Clog, Crash, FaultSchedule, Partition, parse_faults
from .latency import Constant, Exponential, Latency, parse_latency
from .sim import Simulation
from .validation import probability

if TYPE_CHECKING:  # pragma: no cover
    from .node import Node

__all__ = ["NetworkOptions", "Network"]


@dataclass(frozen=True)
class NetworkOptions:
    """Every network fault knob, with its unit, in one printable record.

    latency        default one-way delay distribution (ms)
    loss           probability that a message is silently dropped
    duplicate      probability that a message is delivered twice
    reorder        probability that a message is held back by an extra delay
    reorder_delay  distribution of that extra delay (ms)
    """

    latency: Latency = field(default_factory=lambda: Constant(1.0))
    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_delay: Latency = field(default_factory=lambda: Exponential(1 / 20))

    def __post_init__(self) -> None:
        object.__setattr__(self, "latency", parse_latency(self.latency, "latency"))
        object.__setattr__(self, "reorder_delay", parse_latency(self.reorder_delay, "reorder_delay"))
        probability("loss", self.loss)
        probability("duplicate", self.duplicate)
        probability("reorder", self.reorder)

    def describe(self) -> str:
        """One line naming every knob."""
        return (f"latency={self.latency}, loss={self.loss:g}, duplicate={self.duplicate:g}, "
                f"reorder={self.reorder:g}")


class Network:
    """Carries messages between registered nodes, applying latency and faults.

    Latency is looked up, most specific first: ``leg_latency(src, dst, msg)`` (a
    caller-supplied function, used for per-leg models such as PBS), then a per-link
    setting, then a per-region-pair setting, then ``options.latency``.
    """

    def __init__(self, sim: Simulation, options: NetworkOptions | None = None,
                 leg_latency: Optional[Callable[[str, str, Any], Optional[Latency]]] = None) -> None:
        self.sim = sim
        self.options = options or NetworkOptions()
        self.leg_latency = leg_latency
        self.nodes: dict[str, "Node"] = {}
        self.regions: dict[str, list[str]] = {}
        self._link_latency: dict[tuple[str, str], Latency] = {}
        self._region_latency: dict[tuple[str, str], Latency] = {}
        self._active_partitions: list[Partition] = []
        self._blocked: set[tuple[str, str]] = set()
        self._clogged: dict[tuple[str, str], float] = {}  # directed node pair -> clear time
        self._rng = sim.rng("network")
        self.sent = 0
        self.delivered = 0
        self.dropped = 0
        self.duplicated = 0

    # -- membership ----------------------------------------------------------
    def add(self, node: "Node") -> None:
        """Register a node (done by ``Node.__init__``)."""
        if node.name in self.nodes:
            raise ValueError(f"node name {node.name!r} is already used on this network")
        if node.name in self.regions:
            raise ValueError(f"node name {node.name!r} clashes with a region name")
        self.nodes[node.name] = node
        if node.region is not None:
            self.regions.setdefault(node.region, []).append(node.name)

    def expand(self, name: str) -> list[str]:
        """A region name, or a node name, as a list of node names."""
        if name in self.regions:
            return list(self.regions[name])
        if name in self.nodes:
            return [name]
        allowed = sorted(self.regions) + sorted(self.nodes)
        raise ValueError(f"unknown node or region {name!r}; allowed: {', '.join(allowed)}")

    # -- latency -------------------------------------------------------------
    def set_link_latency(self, a: str, b: str, latency: Latency | str | float, *, both_ways: bool = True) -> None:
        """Use ``latency`` for messages from node ``a`` to node ``b`` (and back)."""
        dist = parse_latency(latency, f"latency {a}->{b}")
        self._link_latency[(a, b)] = dist
        if both_ways:
            self._link_latency[(b, a)] = dist

    def set_region_latency(self, a: str, b: str, latency: Latency | str | float) -> None:
        """Use ``latency`` between every node of region ``a`` and every node of region ``b``."""
        dist = parse_latency(latency, f"latency {a}->{b}")
        self._region_latency[(a, b)] = dist
        self._region_latency[(b, a)] = dist

    def _latency(self, src: str, dst: str, msg: Any) -> Latency:
        if self.leg_latency is not None:
            leg = self.leg_latency(src, dst, msg)
            if leg is not None:
                return leg
        link = self._link_latency.get((src, dst))
        if link is not None:
            return link
        if self._region_latency:
            ra, rb = self.nodes[src].region, self.nodes[dst].region
            reg = self._region_latency.get((ra, rb))
            if reg is not None:
                return reg
        return self.options.latency

    # -- faults --------------------------------------------------------------
    def partition(self, *groups: Iterable[str], one_way: bool = False) -> Partition:
        """Start a partition now, by hand; returns it so it can be healed with ``heal(p)``."""
        p = Partition(tuple(tuple(g) for g in groups), self.sim.now, math.inf, one_way)
        self._start_partition(p)
        return p

    def heal(self, partition: Partition | None = None) -> None:
        """End one partition, or every active one when called with no argument."""
        ending = [partition] if partition is not None else list(self._active_partitions)
        for p in ending:
            if p in self._active_partitions:
                self._active_partitions.remove(p)
                self.sim.record("heal", what=p.describe())
        self._rebuild_blocked()

    def _start_partition(self, p: Partition) -> None:
        for g in p.groups:
            for name in g:
                self.expand(name)  # validate names early, with a clear message
        self._active_partitions.append(p)
        self.sim.record("partition", what=p.describe())
        self._rebuild_blocked()

    def _rebuild_blocked(self) -> None:
        blocked: set[tuple[str, str]] = set()
        for p in self._active_partitions:
            blocked |= p.cut_links(self.expand)
        self._blocked = blocked

    def clog(self, a: str, b: str, until: float) -> None:
        """Hold messages between ``a`` and ``b`` (nodes or regions, both ways) until virtual time ``until``."""
        # Expanded to node pairs here, as partitions are: send() looks clogs up by node name.
        for x in self.expand(a):
            for y in self.expand(b):
                if x != y:
                    self._clogged[(x, y)] = self._clogged[(y, x)] = until
        self.sim.record("clog", a, b, f"until {until:g}")

    def apply(self, schedule: FaultSchedule | str | None) -> FaultSchedule:
        """Schedule every fault of ``schedule`` on this network and its nodes.

        Fault times are absolute virtual times, whenever ``apply`` is called: a fault
        whose window has already begun starts now, and one that is already over is
        skipped.  Every name is checked before anything is scheduled.
        """
        schedule = parse_faults(schedule)
        for f in schedule.faults:
            if isinstance(f, Partition):
                for g in f.groups:
                    for name in g:
                        self.expand(name)
            elif isinstance(f, Clog):
                self.expand(f.a), self.expand(f.b)
            elif isinstance(f, Crash) and f.node not in self.nodes:
                raise ValueError(f"crash of unknown node {f.node!r}; allowed: {', '.join(sorted(self.nodes))}")
        now = self.sim.now
        for f in schedule.faults:
            if f.end <= now:
                continue
            start = max(f.start - now, 0.0)
            if isinstance(f, Partition):
                self.sim.schedule(start, self._start_partition, f)
                if f.end != math.inf:
                    self.sim.schedule(f.end - now, self.heal, f)
            elif isinstance(f, Clog):
                self.sim.schedule(start, self.clog, f.a, f.b, f.end)
            else:
                node = self.nodes[f.node]
                self.sim.schedule(start, node.crash)
                if f.end != math.inf:
                    self.sim.schedule(f.end - now, node.restart)
        return schedule

    def can_reach(self, src: str, dst: str) -> bool:
        """True if no active partition cuts src -> dst right now."""
        return (src, dst) not in self._blocked

    # -- delivery ------------------------------------------------------------
    def send(self, src: str, dst: str, msg: Any) -> None:
        """Send ``msg`` from ``src`` to ``dst``; it may be dropped, delayed or duplicated."""
        nodes = self.nodes
        if dst not in nodes or src not in nodes:
            # Fail here, at the call, not later inside sim.run() when the message lands.
            bad = dst if dst not in nodes else src
            raise ValueError(f"send {src!r} -> {dst!r}: unknown node {bad!r}; allowed: {', '.join(sorted(nodes))}")
        sim = self.sim
        msg_id = sim.next_id()
        what = type(msg).__name__
        self.sent += 1
        sim.record("send", src, dst, what, msg_id)
        if (src, dst) in self._blocked:
            self.dropped += 1
            sim.record("drop", src, dst, what, msg_id, "partition")
            return
        opts = self.options
        rng = self._rng
        if opts.loss and rng.random() < opts.loss:
            self.dropped += 1
            sim.record("drop", src, dst, what, msg_id, "loss")
            return
        sim.schedule(self._delay(src, dst, msg), self._deliver, src, dst, msg, msg_id)
        if opts.duplicate and rng.random() < opts.duplicate:
            # A copy is a message like any other: its own latency, reorder draw and clog.
            self.duplicated += 1
            sim.record("duplicate", src, dst, what, msg_id)
            sim.schedule(self._delay(src, dst, msg), self._deliver, src, dst, msg, msg_id)

    def _delay(self, src: str, dst: str, msg: Any) -> float:
        """How long one copy of ``msg`` takes: latency, maybe a reorder hold, and any clog."""
        opts = self.options
        rng = self._rng
        delay = self._latency(src, dst, msg).sample(rng)
        if opts.reorder and rng.random() < opts.reorder:
            delay += opts.reorder_delay.sample(rng)
        if self._clogged:
            until = self._clogged.get((src, dst))
            now = self.sim.now
            if until is not None and until > now:
                delay += until - now  # held until the clog clears, then travels
        return delay

    def _deliver(self, src: str, dst: str, msg: Any, msg_id: int) -> None:
        node = self.nodes[dst]
        if (src, dst) in self._blocked:
            self.dropped += 1
            self.sim.record("drop", src, dst, type(msg).__name__, msg_id, "partition")
            return
        if not node.alive:
            self.dropped += 1
            self.sim.record("drop", src, dst, type(msg).__name__, msg_id, "crashed")
            return
        self.delivered += 1
        self.sim.record("deliver", src, dst, type(msg).__name__, msg_id)
        node.receive(msg, src)
