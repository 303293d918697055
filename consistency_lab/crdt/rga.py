"""RGA, the Replicated Growable Array (Roh et al. 2011), as the text CRDT.

Why RGA rather than YATA: RGA needs one reference per insert (the element to its left) and
one rule, so students can follow it by hand; YATA (Yjs, hence pycrdt) keeps a left and a
right origin to avoid an anomaly RGA has (below).  The benchmark and chapter 04 run the same
edits through pycrdt, so the two orders can be compared where they differ.

- Every inserted character is an element with a unique id ``(counter, replica)``, where the
  counter is a Lamport clock: one more than the largest counter this replica has seen, so an
  element's id is always greater than the id of the element it was inserted after.
- ``RGAInsert(id, after, char)`` places the character right after the element ``after``
  (``None``: the start), then skips every following element whose id is greater than its own.
  The order of concurrent inserts at the same position is therefore by id, larger first: the
  larger counter, and on equal counters the larger replica id (as strings), goes left.
  Equivalently, the document is the pre-order walk of the tree "child of the element it was
  inserted after", children in descending id order; so it depends only on the set of elements,
  not on the order the inserts arrived in.
- Deletes keep the element as a tombstone (``RGADelete(target)`` marks it): later inserts may
  still name it as their left neighbour, so RGA cannot forget it.  ``state_size`` counts
  tombstones; there is no compaction (it would need to know every replica has seen the delete).
- ``apply`` is idempotent, and it raises ``ValueError`` for an op whose causal predecessor (the
  element it is inserted after, or the one it deletes) this replica has not seen: it does not
  buffer.  ``ready(op)`` says whether an op can be applied; ``replication.crdt_sync`` delivers
  ops causally (vector clocks), so it never sees that error.

What RGA guarantees about interleaving: a run typed forwards (each character after the previous
one) is one subtree, so two users typing words at the same spot never interleave character by
character: one word comes wholly before the other.  The known anomaly (Kleppmann et al.,
"Interleaving anomalies in collaborative text editors", PaPoC 2019): text typed backwards (each
character inserted at the same position, before the previous one) makes siblings of all its
characters, and two such runs typed concurrently interleave ("abc" and "xyz" -> "xaybzc").

Storage: the elements in document order in chunks of at most 512, each with its count of
visible characters, so finding the n-th visible character costs O(chunks + chunk size) rather
than O(document) (O(chunks) in a chunk without tombstones).  The chunks are an internal detail:
equality and merge see only elements.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Iterator, Optional, Union

from consistency_lab.validation import count

from .base import CRDT

__all__ = ["RGA", "RGAInsert", "RGADelete", "RGAOp", "ElementId"]

ElementId = tuple[int, str]  # (Lamport counter, replica id): unique, totally ordered
_CHUNK = 256  # chunks split at twice this: list inserts (a memmove) stay cheap and the walk over chunks short


@dataclass(frozen=True)
class RGAInsert:
    """Insert ``char`` with id ``id`` right after element ``after`` (None: at the start)."""

    id: ElementId
    after: Optional[ElementId]
    char: str


@dataclass(frozen=True)
class RGADelete:
    """Delete (tombstone) the element ``target``."""

    target: ElementId


RGAOp = Union[RGAInsert, RGADelete]


class _Node:
    __slots__ = ("id", "after", "char", "deleted", "chunk")

    def __init__(self, id: ElementId, after: Optional[ElementId], char: str, deleted: bool, chunk: _Chunk) -> None:
        self.id, self.after, self.char, self.deleted, self.chunk = id, after, char, deleted, chunk


class _Chunk:
    __slots__ = ("nodes", "visible")

    def __init__(self) -> None:
        self.nodes: list[_Node] = []
        self.visible = 0


class RGA(CRDT):
    """Replicated text: ``insert(index, char)``, ``delete(index)``, ``apply(op)``, ``text()``."""

    __slots__ = ("_chunks", "_nodes", "counter", "_length")

    def __init__(self, replica_id: str) -> None:
        super().__init__(replica_id)
        self._chunks: list[_Chunk] = []
        self._nodes: dict[ElementId, _Node] = {}
        self.counter = 0  # the Lamport clock: the largest counter seen
        self._length = 0  # visible characters (kept, not summed: every edit checks its index against it)

    # -- reading ----------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._length

    def text(self) -> str:
        """The visible characters in document order."""
        return "".join(n.char for c in self._chunks for n in c.nodes if not n.deleted)

    def value(self) -> str:
        """The text (the same as ``text()``)."""
        return self.text()

    def ids(self) -> list[ElementId]:
        """The ids of the visible characters, in document order."""
        return [n.id for c in self._chunks for n in c.nodes if not n.deleted]

    def state_size(self) -> int:
        """Elements stored, tombstones included."""
        return len(self._nodes)

    def __contains__(self, element: object) -> bool:
        return element in self._nodes

    def ready(self, op: RGAOp) -> bool:
        """Whether this replica has seen the element ``op`` depends on (so ``apply`` will not raise)."""
        needed = op.after if isinstance(op, RGAInsert) else op.target
        return needed is None or needed in self._nodes

    # -- local edits ------------------------------------------------------------------------
    def insert(self, index: int, char: str) -> RGAInsert:
        """Insert one character so it becomes visible character ``index`` (0..len); return the op."""
        count("index", index, low=0, high=len(self))
        if not isinstance(char, str) or len(char) != 1:
            raise ValueError(f"char={char!r} must be a single character")
        after = None if index == 0 else self._visible_node(index - 1).id
        op = RGAInsert((self.counter + 1, self.replica_id), after, char)
        self.apply(op)
        return op

    def insert_text(self, index: int, text: str) -> list[RGAInsert]:
        """Type ``text`` forwards at ``index`` (each character after the previous one); return the ops."""
        if not isinstance(text, str):
            raise ValueError(f"text={text!r} must be a string")
        return [self.insert(index + i, ch) for i, ch in enumerate(text)]

    def delete(self, index: int) -> RGADelete:
        """Delete visible character ``index`` (0..len-1); return the op."""
        if len(self) == 0:
            raise ValueError(f"index={index!r} must be a visible position, but the text is empty")
        count("index", index, low=0, high=len(self) - 1)
        op = RGADelete(self._visible_node(index).id)
        self.apply(op)
        return op

    def delete_range(self, index: int, length: int) -> list[RGADelete]:
        """Delete ``length`` characters from ``index``; return the ops."""
        count("length", length, low=0, high=len(self))
        count("index", index, low=0, high=len(self) - length)
        return [self.delete(index) for _ in range(length)]

    # -- ops from anywhere ------------------------------------------------------------------
    def apply(self, op: RGAOp) -> bool:
        """Apply an op made here or elsewhere; return whether it changed anything (a second time: no)."""
        if isinstance(op, RGAInsert):
            if op.id in self._nodes:
                return False
            self._check_ready(op, op.after)
            self._integrate(op.id, op.after, op.char, False)
            return True
        elif isinstance(op, RGADelete):
            self._check_ready(op, op.target)
            return self._tombstone(self._nodes[op.target])
        else:
            raise ValueError(f"op={op!r} must be an RGAInsert or an RGADelete")

    def _check_ready(self, op: RGAOp, needed: Optional[ElementId]) -> None:
        if needed is not None and needed not in self._nodes:
            raise ValueError(f"op={op!r} must come after the op that made element {needed!r}, which replica "
                             f"{self.replica_id!r} has not seen; deliver ops causally (crdt_sync mode 'ops')")

    # -- internals --------------------------------------------------------------------------
    def _visible_node(self, index: int) -> _Node:
        for chunk in self._chunks:
            if index < chunk.visible:
                if chunk.visible == len(chunk.nodes):  # no tombstones here: index directly
                    return chunk.nodes[index]
                for node in chunk.nodes:
                    if not node.deleted:
                        if index == 0:
                            return node
                        index -= 1
            index -= chunk.visible
        raise AssertionError("index checked by the caller")

    def _tombstone(self, node: _Node) -> bool:
        if node.deleted:
            return False
        node.deleted = True
        node.chunk.visible -= 1
        self._length -= 1
        return True

    def _integrate(self, id: ElementId, after: Optional[ElementId], char: str, deleted: bool) -> None:
        """Place a new element: right after ``after``, past every following element with a larger id."""
        chunks = self._chunks
        if not chunks:
            chunks.append(_Chunk())
        if after is None:
            ci, off = 0, 0
        else:
            ref = self._nodes[after]
            ci = chunks.index(ref.chunk)
            off = ref.chunk.nodes.index(ref) + 1
        while True:  # the RGA rule: skip the subtrees of concurrent siblings with larger ids
            nodes = chunks[ci].nodes
            if off == len(nodes):
                if ci + 1 == len(chunks):
                    break
                ci, off = ci + 1, 0
                continue
            if nodes[off].id > id:
                off += 1
            else:
                break
        chunk = chunks[ci]
        node = _Node(id, after, char, deleted, chunk)
        chunk.nodes.insert(off, node)
        if not deleted:
            chunk.visible += 1
            self._length += 1
        self._nodes[id] = node
        if id[0] > self.counter:
            self.counter = id[0]
        if len(chunk.nodes) > 2 * _CHUNK:
            self._split(ci)

    def _split(self, ci: int) -> None:
        old = self._chunks[ci]
        new = _Chunk()
        new.nodes = old.nodes[_CHUNK:]
        del old.nodes[_CHUNK:]
        for node in new.nodes:
            node.chunk = new
        new.visible = sum(1 for n in new.nodes if not n.deleted)
        old.visible -= new.visible
        self._chunks.insert(ci + 1, new)

    def _elements(self) -> Iterator[_Node]:
        for chunk in self._chunks:
            yield from chunk.nodes

    def _join(self, other: RGA) -> None:
        # other's document order puts every element after the one it was inserted after, so each
        # element's reference is already here when it is integrated
        for node in list(other._elements()):
            mine = self._nodes.get(node.id)
            if mine is None:
                self._integrate(node.id, node.after, node.char, node.deleted)
            elif node.deleted:
                self._tombstone(mine)
        self.counter = max(self.counter, other.counter)

    def copy(self) -> RGA:
        """An independent replica with the same id and state (chunk by chunk, without re-integrating)."""
        result = RGA(self.replica_id)
        for chunk in self._chunks:
            new = _Chunk()
            new.visible = chunk.visible
            for n in chunk.nodes:
                node = _Node(n.id, n.after, n.char, n.deleted, new)
                new.nodes.append(node)
                result._nodes[n.id] = node
            result._chunks.append(new)
        result.counter, result._length = self.counter, self._length
        return result

    def _canonical(self) -> Hashable:
        return tuple((n.id, n.after, n.char, n.deleted) for n in self._elements())
