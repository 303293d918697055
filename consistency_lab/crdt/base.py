"""The contract every CRDT here keeps: a replica id, a state-based join, a value, a size.

One way to combine states: ``a.merge(b)`` returns a NEW object (with ``a``'s replica id) and
never mutates either side; ``a.merge_in(b)`` is the in-place variant (``merge`` is
``copy`` + ``merge_in``), for replication code that joins many deltas into one replica.
Operations (``increment``, ``add``, ``set`` ...) mutate the local replica and return a delta:
an object of the same type holding only what the operation changed, so that
``before.merge(delta) == after`` and shipping the delta instead of the state is enough.
"""

from __future__ import annotations

from typing import Any, Hashable, Iterable, TypeVar

from consistency_lab.validation import text

__all__ = ["CRDT", "Dot", "sort_key"]

Dot = tuple[str, int]  # (replica id, that replica's event number): one unique event
C = TypeVar("C", bound="CRDT")


def sort_key(value: Any) -> tuple[str, str]:
    """A deterministic order for values of any type (repr is not salted, unlike hash)."""
    return (type(value).__name__, repr(value))


def sorted_items(values: Iterable[Any]) -> list[Any]:
    """``values`` in the deterministic order of ``sort_key``."""
    return sorted(values, key=sort_key)


class CRDT:
    """Base of every state-based type: ``merge``, ``merge_in``, ``copy``, ``==``, ``state_size``."""

    __slots__ = ("replica_id",)
    __hash__ = None  # type: ignore[assignment]  # mutable: equality of state, not identity

    def __init__(self, replica_id: str) -> None:
        self.replica_id = text("replica_id", replica_id)

    # -- to be provided by each type -------------------------------------------------------
    def _join(self, other: Any) -> None:
        """Join ``other``'s state into this one (``other`` is already checked to be our type)."""
        raise NotImplementedError

    def _canonical(self) -> Hashable:
        """The state in one canonical, deterministic form: equality and wire size use it."""
        raise NotImplementedError

    def state_size(self) -> int:
        """Number of stored entries (tombstones included), for memory checks."""
        raise NotImplementedError

    def value(self) -> Any:
        """The user-visible value."""
        raise NotImplementedError

    def _empty(self: C) -> C:
        """An empty replica of the same type and replica id (a delta starts from it)."""
        return type(self)(self.replica_id)

    # -- shared ---------------------------------------------------------------------------
    def _check_other(self, other: Any) -> None:
        if type(other) is not type(self):
            raise ValueError(f"other={type(other).__name__} must be a {type(self).__name__} to merge with one")

    def merge_in(self: C, other: C) -> C:
        """Join ``other`` into this replica in place and return it (``other`` is not changed)."""
        self._check_other(other)
        self._join(other)
        return self

    def merge(self: C, other: C) -> C:
        """The join of the two states as a new object with this replica's id; neither side changes."""
        self._check_other(other)
        result = self.copy()
        result._join(other)
        return result

    def copy(self: C) -> C:
        """An independent replica with the same id and state."""
        result = self._empty()
        result._join(self)
        return result

    def canonical(self) -> Hashable:
        """The state in one canonical, hashable form (equal states, equal forms; replica id left out)."""
        return self._canonical()

    def wire_size(self) -> int:
        """Bytes this state would take on the wire (length of its canonical repr): a stable estimate."""
        return len(repr(self._canonical()))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._canonical() == other._canonical()  # type: ignore[union-attr]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.replica_id!r}, value={self.value()!r})"
