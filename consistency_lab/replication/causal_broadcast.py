"""Reliable causal broadcast among a fixed group of nodes over the lossy network.

One :class:`CausalBroadcast` is one member's end of it; the node that owns it does the I/O
(``send`` of what :meth:`~CausalBroadcast.batches` and :meth:`~CausalBroadcast.receive`
return), so the component itself never touches the network or the clock.

* **Sender side.** :meth:`~CausalBroadcast.publish` numbers each local operation 1, 2, ...
  and stamps it with the vector of operations this member had delivered (its causal past);
  every sync tick, :meth:`~CausalBroadcast.batches` gives each peer the next operations it
  has not acknowledged, at most ``batch`` of them, so a peer behind a long cut catches up in
  bounded messages rather than one that grows with the backlog.  Only the origin resends
  its own operations (no relaying): a member cut off from one origin waits for the heal.
* **Receiver side.** :meth:`~CausalBroadcast.receive` holds a batch's new operations in one
  hold-back queue per origin and delivers, through the ``deliver`` callback and exactly once,
  every operation whose causal past has been delivered here; a delivery can unblock another
  origin's next operation, so it keeps going until nothing is ready.  It returns the
  acknowledgement: the highest contiguous number delivered from that origin.

Lost, duplicated and reordered messages are all harmless: a lost batch or ack is resent at
the next tick, a duplicate finds its operations delivered or already held, and an early one
waits in the queue.  All of it is durable (kept across a crash), like the replica it feeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from operator import le
from typing import Any, Callable, Sequence

from ..node import Message
from ..validation import choice, count, text

__all__ = ["BATCH", "CausalOp", "OpBatch", "OpAck", "CausalBroadcast"]

#: The most operations one batch carries (a long cut queues many; the rest follow at the next ticks).
BATCH = 200


@dataclass(frozen=True)
class CausalOp:
    """One broadcast operation: what its origin had delivered when it made it, per member, and the payload."""

    deps: tuple[int, ...]
    payload: Any


@dataclass(frozen=True)
class OpBatch(Message):
    """Origin -> peer: operations ``first``, ``first + 1``, ... of member number ``origin``."""

    origin: int
    first: int
    ops: tuple[CausalOp, ...]


@dataclass(frozen=True)
class OpAck(Message):
    """Peer -> origin: every operation of member ``origin`` up to number ``upto`` is delivered here."""

    origin: int
    upto: int


class CausalBroadcast:
    """One member's sender side (numbering, unacknowledged log, resends) and receiver side (causal delivery)."""

    def __init__(self, members: Sequence[str], me: str, deliver: Callable[[int, Any], None], *,
                 batch: int = BATCH) -> None:
        names = tuple(text("member", m) for m in members)
        if len(set(names)) != len(names):
            raise ValueError(f"members={list(names)!r} must be distinct; allowed: one name per member")
        self.members = names
        self.index: int = names.index(choice("me", me, names))
        self.batch = count("batch", batch)
        self.deliver = deliver  # called as deliver(origin, payload) once per remote operation, in causal order
        self._number = {name: i for i, name in enumerate(names)}
        self.log: list[CausalOp] = []  # my operations; log[i] is number i + 1
        self.delivered = [0] * len(names)  # per origin (me included): how many of its operations are applied here
        self.acked = [0] * len(names)  # per peer: how many of my operations it has acknowledged
        self.held: list[dict[int, CausalOp]] = [{} for _ in names]  # per origin: number -> operation not yet ready

    # -- sender side ------------------------------------------------------------------------
    def publish(self, payload: Any) -> CausalOp:
        """Number a local operation (already applied here) and queue it for every peer."""
        op = CausalOp(tuple(self.delivered), payload)
        self.log.append(op)
        self.delivered[self.index] = len(self.log)
        return op

    def batches(self) -> list[tuple[str, OpBatch]]:
        """For each peer missing some of my operations: (peer, the next at most ``batch`` of them)."""
        out = []
        log, size = self.log, self.batch
        for peer, acked in enumerate(self.acked):
            if peer != self.index and acked < len(log):
                out.append((self.members[peer], OpBatch(self.index, acked + 1, tuple(log[acked:acked + size]))))
        return out

    def on_ack(self, msg: OpAck, src: str) -> None:
        """Peer ``src`` has delivered my operations up to ``msg.upto`` (an older ack changes nothing)."""
        peer = self._number.get(src)
        if msg.origin == self.index and peer is not None and msg.upto > self.acked[peer]:
            self.acked[peer] = msg.upto

    # -- receiver side ----------------------------------------------------------------------
    def receive(self, msg: OpBatch) -> OpAck:
        """Hold the batch's new operations, deliver every one that is ready, and return the ack for its origin."""
        origin = msg.origin
        held = self.held[origin]
        have = self.delivered[origin]
        skip = max(0, have + 1 - msg.first)  # the batch's operations already delivered here
        for seq, op in enumerate(msg.ops[skip:], msg.first + skip):
            held.setdefault(seq, op)
        # Only this origin's queue gained anything, so if its next operation is still not ready,
        # no other queue can have become ready either (nothing new was delivered).
        if self._run(origin):
            progress = True
            while progress:  # one delivery can unblock another origin's next operation
                progress = False
                for other, queue in enumerate(self.held):
                    if queue and self._run(other):
                        progress = True
        return OpAck(origin, self.delivered[origin])

    def _run(self, origin: int) -> int:
        """Deliver ``origin``'s held operations in number order while each one's causal past is here."""
        held, delivered = self.held[origin], self.delivered
        nxt = delivered[origin] + 1
        done = 0
        while True:
            op = held.get(nxt)
            # op.deps[origin] is nxt - 1 == delivered[origin], so comparing every entry is exact
            if op is None or not all(map(le, op.deps, delivered)):
                return done
            del held[nxt]
            delivered[origin] = nxt
            self.deliver(origin, op.payload)
            nxt += 1
            done += 1

    # -- state ------------------------------------------------------------------------------
    def holding(self) -> int:
        """How many received operations wait here for an operation they depend on."""
        return sum(len(q) for q in self.held)

    def settled(self) -> bool:
        """Every peer has acknowledged all my operations, and nothing is held back here."""
        return (all(a == len(self.log) for p, a in enumerate(self.acked) if p != self.index)
                and not any(self.held))
