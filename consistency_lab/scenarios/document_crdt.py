"""CRDT editors: every local edit becomes an operation broadcast to every peer with causal delivery.

Two text CRDTs run behind the same editor and the same transport:

* ``crdt``: the course's RGA (:class:`consistency_lab.crdt.RGA`), whose operations are
  small records;
* ``pycrdt``: a real Yjs document (:class:`consistency_lab.real.pycrdt_docs.PycrdtText`),
  whose operations are the update bytes Yrs produces.

The transport is reliable causal broadcast over the lossy network: each editor numbers
its own operations 1, 2, ...; every ``sync_ms`` it resends to each peer, in one batch,
the operations that peer has not acknowledged; a receiver applies an operation once
every operation it depends on (its vector of delivered counts at creation) has been
applied here, and acknowledges the highest contiguous number it holds from that origin.
Both CRDTs therefore see the same delivery order rules; neither needs a server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..network import Network
from ..node import Message
from ..sim import Simulation
from .document_editors import EditorNode
from .document_session import Keystroke

__all__ = ["OpBatch", "OpAck", "CrdtEditor", "TextReplica", "rga_replicas", "pycrdt_replicas"]

#: The most operations one batch carries (a long cut-off queues many; the rest follow next tick).
BATCH = 200


@dataclass(frozen=True)
class OpBatch(Message):
    """Editor -> peer: operations ``first``, ``first + 1``, ... of ``origin``, each with its dependencies."""

    origin: int
    first: int
    ops: tuple[tuple[tuple[int, ...], Any, str], ...]  # (dependencies, operation, character it inserts or "")


@dataclass(frozen=True)
class OpAck(Message):
    """Peer -> editor: every operation of ``origin`` up to number ``upto`` is applied here."""

    origin: int
    upto: int


class TextReplica:
    """What a CRDT editor needs from its text type: local edits return an operation; apply a peer's."""

    def insert(self, index: int, ch: str) -> Any:  # pragma: no cover - interface
        """Insert ``ch`` before ``index``; return the operation to broadcast."""
        raise NotImplementedError

    def delete(self, index: int) -> Any:  # pragma: no cover - interface
        """Delete the character at ``index``; return the operation to broadcast."""
        raise NotImplementedError

    def apply(self, op: Any) -> None:  # pragma: no cover - interface
        """Apply a peer's operation."""
        raise NotImplementedError

    def text(self) -> str:  # pragma: no cover - interface
        """The current text."""
        raise NotImplementedError


class _Rga(TextReplica):
    """The course's RGA behind the TextReplica interface."""

    def __init__(self, replica_id: str, base_ops: list) -> None:
        from ..crdt import RGA
        self.rga = RGA(replica_id)
        for op in base_ops:
            self.rga.apply(op)

    def insert(self, index: int, ch: str) -> Any:
        """Insert locally; the RGA returns its operation."""
        return self.rga.insert(index, ch)

    def delete(self, index: int) -> Any:
        """Delete locally; the RGA returns its operation."""
        return self.rga.delete(index)

    def apply(self, op: Any) -> None:
        """Apply a peer's RGA operation."""
        self.rga.apply(op)

    def text(self) -> str:
        """The RGA's visible text."""
        return self.rga.text()


class _Yjs(TextReplica):
    """A pycrdt document behind the TextReplica interface (operations are update bytes)."""

    def __init__(self, client_id: int, base_update: bytes) -> None:
        from ..real.pycrdt_docs import PycrdtText
        self.doc = PycrdtText(client_id, base_update)

    def insert(self, index: int, ch: str) -> Any:
        """Insert locally; the operation is the update pycrdt produced."""
        return self.doc.insert(index, ch)

    def delete(self, index: int) -> Any:
        """Delete locally; the operation is the update pycrdt produced."""
        return self.doc.delete(index)

    def apply(self, op: Any) -> None:
        """Apply a peer's update bytes."""
        self.doc.apply(op)

    def text(self) -> str:
        """The document's text."""
        return self.doc.text()


def rga_replicas(editors: int, base: str) -> list[TextReplica]:
    """One RGA replica per editor, each holding ``base`` written by a common author "base"."""
    from ..crdt import RGA
    author = RGA("base")
    ops = [author.insert(i, ch) for i, ch in enumerate(base)]
    return [_Rga(f"e{i}", ops) for i in range(editors)]


def pycrdt_replicas(editors: int, base: str) -> list[TextReplica]:
    """One pycrdt document per editor (client ids 1, 2, 3), each holding ``base`` from client 1000."""
    from ..real.pycrdt_docs import PycrdtText
    update = PycrdtText.starting_update(base, 1000)
    return [_Yjs(i + 1, update) for i in range(editors)]


#: strategy name -> builder of one replica per editor.
REPLICAS: dict[str, Callable[[int, str], list[TextReplica]]] = {"crdt": rga_replicas, "pycrdt": pycrdt_replicas}


class CrdtEditor(EditorNode):
    """An editor whose text is a CRDT replica, kept in sync by reliable causal broadcast."""

    def __init__(self, name: str, sim: Simulation, network: Network, index: int, base: str,
                 keystrokes: tuple[Keystroke, ...], sync_ms: float, replica: TextReplica, editors: int) -> None:
        self.replica = replica
        self.editors = editors
        self.log: list[tuple[tuple[int, ...], Any, str]] = []  # own operations: (dependencies, op, inserted char)
        self.delivered = [0] * editors  # operations applied here, per origin (own included)
        self.acked = [0] * editors  # per peer: how many of my operations it has acknowledged
        self._held: dict[int, dict[int, tuple[tuple[int, ...], Any, str]]] = {o: {} for o in range(editors)}
        self.applied_remote = 0
        self._text: str | None = None  # cached text; None after a remote change (rebuilt when asked)
        super().__init__(name, sim, network, index, base, keystrokes, sync_ms)

    def text(self) -> str:
        """The replica's text (cached: a long RGA takes a while to walk)."""
        if self._text is None:
            self._text = self.replica.text()
        return self._text

    def _record(self, op: Any, ch: str) -> None:
        deps = tuple(self.delivered)
        self.log.append((deps, op, ch))
        self.delivered[self.index] = len(self.log)

    def local_insert(self, index: int, ch: str) -> None:
        """Insert into the replica and log the operation for broadcast."""
        text = self.text()
        self._record(self.replica.insert(index, ch), ch)
        self._text = text[:index] + ch + text[index:]

    def local_delete(self, index: int) -> None:
        """Delete in the replica and log the operation for broadcast."""
        text = self.text()
        self._record(self.replica.delete(index), "")
        self._text = text[:index] + text[index + 1:]

    def sync(self) -> None:
        """Send each peer the operations it has not acknowledged (one batch)."""
        for peer in range(self.editors):
            if peer != self.index and self.acked[peer] < len(self.log):
                first = self.acked[peer]
                self.send(f"e{peer}", OpBatch(self.index, first + 1, tuple(self.log[first:first + BATCH])))

    def settled(self) -> bool:
        """Every peer has every operation of mine, and nothing is held back here."""
        return (all(self.acked[p] == len(self.log) for p in range(self.editors) if p != self.index)
                and not any(self._held.values()))

    def on_OpBatch(self, msg: OpBatch, src: str) -> None:
        """Hold the batch's new operations, apply every one whose dependencies are met, acknowledge."""
        held = self._held[msg.origin]
        for k, entry in enumerate(msg.ops):
            seq = msg.first + k
            if seq > self.delivered[msg.origin]:
                held.setdefault(seq, entry)
        arrived = self._deliver()
        if arrived is not None:
            self._text = None
            self.observe(arrived)
        self.send(src, OpAck(msg.origin, self.delivered[msg.origin]))

    def _deliver(self) -> str | None:
        """Apply held operations in causal order until none is ready; the characters they inserted (None: none)."""
        arrived: list[str] | None = None
        while True:
            progress = False
            for origin in range(self.editors):
                held = self._held[origin]
                nxt = self.delivered[origin] + 1
                entry = held.get(nxt)
                if entry is None:
                    continue
                deps, op, ch = entry
                if all(deps[j] <= self.delivered[j] for j in range(self.editors) if j != origin):
                    del held[nxt]
                    self.replica.apply(op)
                    self.delivered[origin] = nxt
                    self.applied_remote += 1
                    progress = True
                    arrived = [] if arrived is None else arrived
                    arrived.append(ch)
            if not progress:
                return None if arrived is None else "".join(arrived)

    def on_OpAck(self, msg: OpAck, src: str) -> None:
        """A peer holds my operations up to ``upto``."""
        if msg.origin == self.index:
            peer = int(src[1:])
            self.acked[peer] = max(self.acked[peer], msg.upto)
