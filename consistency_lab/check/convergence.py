"""Convergence: do the replicas end up holding the same state, and when did they?"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Hashable, Iterable, Mapping

_MISSING = object()


@dataclass
class ConvergenceResult:
    """Whether all replicas hold equal states; if not, how they split.

    ``groups`` lists (state, replica names) from the largest group down (ties:
    the group of the replica named first).  ``differing`` names the replicas
    outside the largest group.
    """

    converged: bool
    groups: list[tuple[Any, list[Hashable]]] = field(default_factory=list)
    differing: list[Hashable] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """Same as ``converged`` (uniform with the session-guarantee results)."""
        return self.converged

    def __bool__(self) -> bool:
        return self.converged

    def explain(self) -> str:
        """One sentence for students."""
        if not self.groups:
            return "No replicas given, so there is nothing to compare."
        if self.converged:
            return f"All {len(self.groups[0][1])} replicas hold the same state."
        parts = "; ".join(
            f"{', '.join(map(str, names))} hold{'s' if len(names) == 1 else ''} {state!r}"
            for state, names in self.groups
        )
        return f"Replicas disagree: {parts}."


def check_convergence(replica_states: Mapping[Hashable, Any]) -> ConvergenceResult:
    """Do all replicas hold equal states?  Replicas are compared with ``==``."""
    if not isinstance(replica_states, Mapping):
        raise TypeError(
            f"replica_states={replica_states!r} must be a mapping of replica name -> state"
        )
    groups: list[tuple[Any, list[Hashable]]] = []
    # Equality, not hashing, so unhashable states (dicts, lists) work too.
    for name, state in replica_states.items():
        for existing, names in groups:
            if existing == state:
                names.append(name)
                break
        else:
            groups.append((state, [name]))
    groups.sort(key=lambda g: -len(g[1]))  # stable: ties keep first-seen order
    differing = [name for _, names in groups[1:] for name in names]
    return ConvergenceResult(len(groups) <= 1, groups, differing)


def convergence_time(
    change_log: Iterable[tuple[float, Hashable, Any]],
    heal_time: float,
    initial: Mapping[Hashable, Any] | None = None,
) -> float | None:
    """Earliest time >= ``heal_time`` from which all replicas stay equal, or None.

    ``change_log`` holds (time, replica, new value) events; ``initial`` gives each
    replica's value before any event (a replica that appears only in the log has
    no value until its first event, and is then unequal to everyone).  Events at
    the same time apply together, so a momentary mismatch within one instant does
    not count.  None means the replicas end different.
    """
    if isinstance(heal_time, bool) or not isinstance(heal_time, (int, float)):
        raise ValueError(f"heal_time={heal_time!r} must be a number (virtual ms)")
    values: dict[Hashable, Any] = dict(initial or {})
    events = []
    for n, event in enumerate(change_log):
        try:
            t, replica, value = event
        except (TypeError, ValueError):
            raise ValueError(
                f"change_log[{n}]={event!r} must be a (time, replica, value) triple"
            ) from None
        events.append((t, n, replica, value))
        values.setdefault(replica, _MISSING)
    events.sort(key=lambda e: (e[0], e[1]))

    def all_equal() -> bool:
        vals = list(values.values())
        return all(v is not _MISSING for v in vals) and all(v == vals[0] for v in vals)

    since = float("-inf") if all_equal() else None
    i = 0
    while i < len(events):
        t = events[i][0]
        while i < len(events) and events[i][0] == t:
            values[events[i][2]] = events[i][3]
            i += 1
        equal = all_equal()
        if equal and since is None:
            since = t
        elif not equal:
            since = None
    if since is None:
        return None
    return max(float(heal_time), since)
