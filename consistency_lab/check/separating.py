"""For each adjacent pair on the map, a smallest history that one model accepts and the other rejects.

Each entry of :data:`SEPARATING` is keyed by an edge of
:data:`~consistency_lab.check.model_map.MAP_EDGES` (stronger, weaker): its history
satisfies the weaker model and breaks the stronger one, and leaving out any one of
its operations loses that (``tests/check/test_model_map.py`` checks both with the
checkers themselves).  The histories are written in the text form of
:mod:`~consistency_lab.check.history_text`.
"""

from __future__ import annotations

from dataclasses import dataclass

from consistency_lab.history import Operation

from .history_text import parse_history_text


@dataclass(frozen=True)
class SeparatingHistory:
    """A history that ``weaker`` accepts and ``stronger`` rejects, and why, in words."""

    stronger: str
    weaker: str
    text: str
    why: str

    @property
    def ops(self) -> list[Operation]:
        """The history's operations (parsed afresh each time, so callers may keep them)."""
        return parse_history_text(self.text)


_NO_INIT_AFTER_OWN_WRITE = "c1 write x 1 @0-1\nc1 read x -> nil @2-3"

_ROWS = (
    ("linearizable", "sequential", "c1 write x 1 @0-1\nc2 read x -> nil @2-3",
     "c2 reads the old value after the write returned: real time forbids it, but an order that puts c2's "
     "read first keeps each client's own order"),
    ("sequential", "causal",
     "c1 write x 1 @0-1\nc1 read x -> 2 @2-3\nc2 write x 2 @0-1\nc2 read x -> 1 @2-3",
     "each client sees the other's write after its own: no single order has both reads right, but the two "
     "writes are concurrent, so causality lets each side see them in its own order"),
    ("sequential", "consistent prefix", "c1 append log a @0-1\nc1 read log -> [] @2-3",
     "the empty log is a prefix of every order, but c1's own append came first in its program order"),
    ("causal", "read-your-writes", "c1 write x 1 @0-1\nc2 read x -> 1 @2-3\nc2 read x -> nil @4-5",
     "c2 saw the write, then the initial value: causally the write came before its second read; c2 wrote "
     "nothing, so read-your-writes has nothing to say"),
    ("causal", "monotonic reads", _NO_INIT_AFTER_OWN_WRITE,
     "c1 misses its own write, which is in its causal past; with a single read, reads cannot go backwards"),
    ("causal", "monotonic writes", _NO_INIT_AFTER_OWN_WRITE,
     "c1 misses its own write, which is in its causal past; with a single write, writes cannot be reordered"),
    ("causal", "writes-follow-reads", _NO_INIT_AFTER_OWN_WRITE,
     "c1 misses its own write, which is in its causal past; no write follows a read, so there is no "
     "dependency to lose"),
    ("read-your-writes", "eventual", "c1 write x 1 @0-1\nc1 read x -> nil @2-3\nc1 read x -> 1 @4-5",
     "c1 misses its own write once, then sees it: the run ends agreed"),
    ("monotonic reads", "eventual",
     "c1 write x 1 @0-1\nc2 read x -> 1 @2-3\nc2 read x -> nil @4-5\nc2 read x -> 1 @6-7",
     "c2 goes back in time once, then catches up again"),
    ("monotonic writes", "eventual",
     "c1 write x 1 @0-1\nc1 write y 2 @2-3\nc2 read y -> 2 @4-5\nc2 read x -> nil @6-7\nc2 read x -> 1 @8-9",
     "c2 sees c1's second write without its first, then both"),
    ("writes-follow-reads", "eventual",
     "c1 write x 1 @0-1\nc2 read x -> 1 @2-3\nc2 write y 2 @4-5\nc3 read y -> 2 @6-7\nc3 read x -> nil @8-9\n"
     "c3 read x -> 1 @10-11",
     "c3 sees c2's write without the write c2 had read before writing, then both"),
    ("consistent prefix", "eventual",
     "c1 append log a @0-1\nc1 append log b @2-3\nc2 read log -> [b] @4-5\nc2 read log -> [a, b] @6-7",
     "c2 first sees b without a, a gap no single order has, then the whole log"),
)

#: (stronger, weaker) -> the separating history of that edge.
SEPARATING: dict[tuple[str, str], SeparatingHistory] = {
    (s, w): SeparatingHistory(s, w, text, why) for s, w, text, why in _ROWS
}

#: A longer one: all four session guarantees hold, causality does not (a chain of reads-from
#: through three clients, which each guarantee, looking one step at a time, cannot see).
SESSIONS_NOT_CAUSAL = SeparatingHistory(
    "causal", "all four session guarantees",
    "c1 write x 1 @0-1\nc2 read x -> 1 @2-3\nc2 write y 2 @4-5\nc3 read y -> 2 @6-7\nc3 write z 3 @8-9\n"
    "c4 read z -> 3 @10-11\nc4 read x -> nil @12-13",
    "c4 read z, which depends on y, which depends on x, yet c4 still reads x's initial value; each session "
    "guarantee only looks at one writer's or one reader's step",
)
