"""CRDT editors: every local edit becomes an operation broadcast to every peer with causal delivery.

Two text CRDTs run behind the same editor and the same transport:

* ``crdt``: the course's RGA (:class:`consistency_lab.crdt.RGA`), whose operations are
  small records;
* ``pycrdt``: a real Yjs document (:class:`consistency_lab.real.pycrdt_docs.PycrdtText`),
  whose operations are the update bytes Yrs produces.

The transport is reliable causal broadcast over the lossy network
(:class:`consistency_lab.replication.causal_broadcast.CausalBroadcast`): each editor numbers
its own operations 1, 2, ...; every ``sync_ms`` it resends to each peer, in one batch of at
most ``BATCH``, the operations that peer has not acknowledged; a receiver applies an operation
once every operation it depends on (its vector of delivered counts at creation) has been
applied here, and acknowledges the highest contiguous number applied from that origin.
Both CRDTs therefore see the same delivery order rules; neither needs a server.
"""

from __future__ import annotations

from typing import Any, Callable

from ..network import Network
from ..replication.causal_broadcast import BATCH, CausalBroadcast, CausalOp, OpAck, OpBatch
from ..sim import Simulation
from .document_editors import EditorNode
from .document_session import Keystroke

__all__ = ["BATCH", "OpBatch", "OpAck", "CrdtEditor", "TextReplica", "rga_replicas", "pycrdt_replicas"]


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
        # payloads are (operation, character it inserts or ""): the character says what arrived
        self.cast = CausalBroadcast([f"e{i}" for i in range(editors)], name, self._apply_remote)
        self.applied_remote = 0
        self._arrived: list[str] = []  # characters delivered by the batch being received
        self._text: str | None = None  # cached text; None after a remote change (rebuilt when asked)
        super().__init__(name, sim, network, index, base, keystrokes, sync_ms)

    @property
    def log(self) -> list[CausalOp]:
        """My own operations, in the order I made them (number i + 1 at index i)."""
        return self.cast.log

    @property
    def delivered(self) -> list[int]:
        """Operations applied here, per origin editor (my own included)."""
        return self.cast.delivered

    def text(self) -> str:
        """The replica's text (cached: a long RGA takes a while to walk)."""
        if self._text is None:
            self._text = self.replica.text()
        return self._text

    def local_insert(self, index: int, ch: str) -> None:
        """Insert into the replica and queue the operation for broadcast."""
        text = self.text()
        self.cast.publish((self.replica.insert(index, ch), ch))
        self._text = text[:index] + ch + text[index:]

    def local_delete(self, index: int) -> None:
        """Delete in the replica and queue the operation for broadcast."""
        text = self.text()
        self.cast.publish((self.replica.delete(index), ""))
        self._text = text[:index] + text[index + 1:]

    def sync(self) -> None:
        """Send each peer the operations it has not acknowledged (one batch)."""
        for peer, batch in self.cast.batches():
            self.send(peer, batch)

    def settled(self) -> bool:
        """Every peer has every operation of mine, and nothing is held back here."""
        return self.cast.settled()

    def _apply_remote(self, origin: int, payload: tuple[Any, str]) -> None:
        op, ch = payload
        self.replica.apply(op)
        self.applied_remote += 1
        self._arrived.append(ch)

    def on_OpBatch(self, msg: OpBatch, src: str) -> None:
        """Hold the batch's new operations, apply every one whose dependencies are met, acknowledge."""
        ack = self.cast.receive(msg)
        if self._arrived:
            self._text = None
            self.observe("".join(self._arrived))
            self._arrived = []
        self.send(src, ack)

    def on_OpAck(self, msg: OpAck, src: str) -> None:
        """A peer holds my operations up to ``upto``."""
        self.cast.on_ack(msg, src)
