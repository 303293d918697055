"""Faults as data: partitions, clogs and crashes, scheduled at virtual times.

A :class:`FaultSchedule` is the "nemesis" of a run.  It is a plain list of fault
records that can be printed with the results, parsed from a short text form
(so the command line and widgets share it), and applied to a network.

Text form (several faults separated by ``;``)::

    A|B@1000-3000        partition between groups A and B from 1 s to 3 s
    r0,c0|r1,r2@500-     partition from 0.5 s that never heals
    A>B@1000-2000        one-way: messages from A to B are dropped
    r0~r1@0-800          clog: messages between r0 and r1 are held, then delivered
    crash:r0@1000-4000   crash r0 at 1 s, restart it at 4 s ("crash:r0@1000" never restarts)

A group is a region name or a comma-separated list of node names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable

__all__ = ["Partition", "Clog", "Crash", "FaultSchedule", "parse_faults", "FAULT_SPEC_HELP"]

FAULT_SPEC_HELP = (
    "faults separated by ';': 'A|B@START-END' (partition), 'A>B@START-END' (one-way), "
    "'a~b@START-END' (clog), 'crash:NODE@START-END' (END optional = never heals/restarts); "
    "times in ms, groups are region names or comma-separated node names"
)


def _check_window(start: float, end: float, what: str) -> None:
    if not (isinstance(start, (int, float)) and start >= 0 and not math.isinf(start)):
        raise ValueError(f"{what} start={start!r} must be a finite time >= 0 ms")
    if not end > start:
        raise ValueError(f"{what} end={end!r} must be after start={start!r} (use inf for never)")


@dataclass(frozen=True)
class Partition:
    """Cut the links between groups of nodes from ``start`` to ``end`` ms.

    Symmetric by default; with ``one_way=True`` only messages from the first group
    to the others are dropped (the classic "I can hear you, you can't hear me").
    """

    groups: tuple[tuple[str, ...], ...]
    start: float = 0.0
    end: float = math.inf
    one_way: bool = False

    def __post_init__(self) -> None:
        if len(self.groups) < 2 or any(not g for g in self.groups):
            raise ValueError(f"groups={self.groups!r} must be at least two non-empty groups")
        if self.one_way and len(self.groups) != 2:
            raise ValueError("a one-way partition needs exactly two groups (from, to)")
        _check_window(self.start, self.end, "partition")

    def cut_links(self, expand) -> set[tuple[str, str]]:
        """Directed (src, dst) pairs this partition blocks; ``expand`` maps a group name to nodes."""
        sets = [set().union(*(expand(n) for n in g)) for g in self.groups]
        pairs: set[tuple[str, str]] = set()
        for i, a in enumerate(sets):
            for j, b in enumerate(sets):
                if i == j or (self.one_way and i != 0):
                    continue
                pairs.update((x, y) for x in a for y in b if x != y)
        return pairs

    def describe(self) -> str:
        """Short human form, e.g. ``A | B from 1000 to 3000 ms``."""
        sep = " > " if self.one_way else " | "
        return f"{sep.join(','.join(g) for g in self.groups)} from {self.start:g} to {self.end:g} ms"


@dataclass(frozen=True)
class Clog:
    """Hold every message between ``a`` and ``b`` (both ways) from ``start`` to ``end`` ms."""

    a: str
    b: str
    start: float = 0.0
    end: float = math.inf

    def __post_init__(self) -> None:
        _check_window(self.start, self.end, "clog")

    def describe(self) -> str:
        """Short human form."""
        return f"clog {self.a}~{self.b} from {self.start:g} to {self.end:g} ms"


@dataclass(frozen=True)
class Crash:
    """Crash ``node`` at ``start`` ms; restart it at ``end`` ms (inf: never)."""

    node: str
    start: float
    end: float = math.inf

    def __post_init__(self) -> None:
        _check_window(self.start, self.end, "crash")

    def describe(self) -> str:
        """Short human form."""
        return f"crash {self.node} at {self.start:g} ms, restart at {self.end:g} ms"


@dataclass(frozen=True)
class FaultSchedule:
    """An ordered list of faults for one run."""

    faults: tuple = field(default_factory=tuple)

    def __post_init__(self) -> None:
        for f in self.faults:
            if not isinstance(f, (Partition, Clog, Crash)):
                raise ValueError(f"fault {f!r} must be a Partition, Clog or Crash")

    @classmethod
    def of(cls, faults: Iterable) -> "FaultSchedule":
        """Build a schedule from any iterable of faults."""
        return cls(tuple(faults))

    def partitions(self) -> list[Partition]:
        """The partitions, in schedule order."""
        return [f for f in self.faults if isinstance(f, Partition)]

    def crashes(self) -> list[Crash]:
        """The crashes, in schedule order."""
        return [f for f in self.faults if isinstance(f, Crash)]

    def clogs(self) -> list[Clog]:
        """The clogs, in schedule order."""
        return [f for f in self.faults if isinstance(f, Clog)]

    def last_heal(self) -> float:
        """Time the last network fault or crash ends (0 with no faults; inf if one never ends)."""
        return max((f.end for f in self.faults), default=0.0)

    def partition_windows(self) -> list[tuple[float, float]]:
        """(start, end) of every partition."""
        return [(p.start, p.end) for p in self.partitions()]

    def describe(self) -> str:
        """One line per fault, or 'no faults'."""
        return "; ".join(f.describe() for f in self.faults) or "no faults"

    def __add__(self, other: "FaultSchedule") -> "FaultSchedule":
        return FaultSchedule(self.faults + other.faults)


def _window(text: str, spec: str) -> tuple[float, float]:
    start_s, dash, end_s = text.partition("-")
    try:
        start = float(start_s)
        end = float(end_s) if end_s.strip() else math.inf
    except ValueError:
        raise ValueError(f"fault {spec!r}: times '{text}' must look like START-END in ms") from None
    if not dash:
        end = math.inf
    return start, end


def _group(text: str) -> tuple[str, ...]:
    return tuple(n.strip() for n in text.split(",") if n.strip())


def parse_faults(spec: "str | FaultSchedule | None") -> FaultSchedule:
    """Parse the text form described in the module docstring ('' or None: no faults)."""
    if spec is None:
        return FaultSchedule()
    if isinstance(spec, FaultSchedule):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"faults={spec!r} must be text: {FAULT_SPEC_HELP}")
    faults = []
    for part in (p.strip() for p in spec.split(";")):
        if not part or part.lower() == "none":
            continue
        what, at, when = part.partition("@")
        if not at:
            raise ValueError(f"fault {part!r} has no '@START-END'; allowed: {FAULT_SPEC_HELP}")
        start, end = _window(when, part)
        try:
            if what.startswith("crash:"):
                faults.append(Crash(what[len("crash:"):].strip(), start, end))
            elif "~" in what:
                a, b = (s.strip() for s in what.split("~", 1))
                faults.append(Clog(a, b, start, end))
            elif ">" in what:
                a, b = what.split(">", 1)
                faults.append(Partition((_group(a), _group(b)), start, end, one_way=True))
            elif "|" in what:
                faults.append(Partition(tuple(_group(g) for g in what.split("|")), start, end))
            else:
                raise ValueError("unknown fault kind")
        except ValueError as exc:
            raise ValueError(f"fault {part!r}: {exc}; allowed: {FAULT_SPEC_HELP}") from None
    return FaultSchedule(tuple(faults))
