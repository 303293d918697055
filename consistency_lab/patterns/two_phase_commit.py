"""Two-phase commit: a coordinator with a durable decision log, and participants that lock and wait.

One transaction touches one key at each of several :class:`TwoPCParticipant` nodes.
The :class:`TwoPCCoordinator` runs the classic protocol over the simulated network:

1. **prepare**: it sends :class:`Prepare` to every participant.  A participant takes
   the key's lock (waiting up to ``lock_wait_ms`` behind another transaction), then
   votes :class:`Vote` yes, or no when it refuses the work (``refuse_rate``) or the
   wait runs out.  Once it has voted yes it is **in doubt**: it must keep the lock
   until it hears the decision, whatever happens to the coordinator;
2. **decision**: all yes -> commit, anything else (a no, or a vote that does not come
   within ``vote_timeout_ms``) -> abort.  The decision is written to the coordinator's
   durable log *before* it is sent as :class:`Decision`, and resent until every
   participant has acknowledged it (:class:`DecisionAck`).

A crash loses the coordinator's volatile state (the votes it was collecting).  On
restart it reads its log: a logged decision is sent again; a transaction that was
begun but never decided is aborted (presumed abort); a transaction that arrived
while it was down is begun now.  ``on_phase(txn_id, phase)`` is called at
``"begin"`` (before any prepare), ``"prepared"`` (every prepare sent) and ``"decided"``
(the decision logged and sent to the first participant only): the place a scenario
crashes the coordinator at a chosen point.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from ..network import Network
from ..node import Node, Reply, Request
from ..sim import Simulation
from ..validation import count, positive, probability, text

__all__ = ["Prepare", "Vote", "Decision", "DecisionAck", "TxnRecord", "TwoPCCoordinator", "TwoPCParticipant",
           "PHASES", "TXN_STATUSES"]

#: Where ``on_phase`` is called, in protocol order.
PHASES = ("begin", "prepared", "decided")
#: A transaction's states in the coordinator's log; the last two are decisions.
TXN_STATUSES = ("pending", "preparing", "committed", "aborted")


@dataclass(frozen=True)
class Prepare(Request):
    """Coordinator -> participant: lock ``key`` for ``txn_id`` and vote."""

    txn_id: str = ""
    key: str = ""


@dataclass(frozen=True)
class Vote(Reply):
    """Participant -> coordinator: yes (locked, ready to commit) or no, and why not."""

    yes: bool = True
    reason: str = ""


@dataclass(frozen=True)
class Decision(Request):
    """Coordinator -> participant: commit or abort ``txn_id``."""

    txn_id: str = ""
    commit: bool = False


@dataclass(frozen=True)
class DecisionAck(Reply):
    """Participant -> coordinator: the decision on ``txn_id`` is applied (the lock is released)."""

    txn_id: str = ""


@dataclass
class TxnRecord:
    """The coordinator's durable log entry for one transaction."""

    txn_id: str
    #: (participant node, key) pairs, one per participant.
    parts: tuple[tuple[str, str], ...]
    arrived_at: float
    status: str = "pending"
    reason: str = ""
    decided_at: float = math.inf
    acked: set = field(default_factory=set)
    finished_at: float = math.inf

    @property
    def decided(self) -> bool:
        """True once committed or aborted (the decision is in the log)."""
        return self.status in ("committed", "aborted")

    @property
    def finished(self) -> bool:
        """True once every participant has acknowledged the decision."""
        return self.decided and len(self.acked) == len(self.parts)


class TwoPCCoordinator(Node):
    """Runs transactions by two-phase commit; its decision log survives crashes."""

    def __init__(self, name: str, sim: Simulation, network: Network, *, vote_timeout_ms: float = 200.0,
                 decision_timeout_ms: float = 100.0, max_decision_attempts: int = 50,
                 on_phase: Optional[Callable[[str, str], None]] = None) -> None:
        self.vote_timeout_ms = positive("vote_timeout_ms", vote_timeout_ms, "ms")
        self.decision_timeout_ms = positive("decision_timeout_ms", decision_timeout_ms, "ms")
        self.max_decision_attempts = count("max_decision_attempts", max_decision_attempts)
        self.on_phase = on_phase
        self.log: dict[str, TxnRecord] = {}
        super().__init__(name, sim, network)

    def init_volatile(self) -> None:
        """Votes being collected live only in memory: a crash forgets them."""
        self.votes: dict[str, dict[str, bool]] = {}

    def begin(self, txn_id: str, parts: Sequence[tuple[str, str]]) -> TxnRecord:
        """Log transaction ``txn_id`` over ``parts`` ((participant, key) pairs) and start it if up."""
        text("txn_id", txn_id)
        if txn_id in self.log:
            raise ValueError(f"txn_id={txn_id!r} must be new; allowed: a name not used before")
        nodes = [node for node, _key in parts]
        if not parts or len(set(nodes)) != len(nodes):
            raise ValueError(f"parts={list(parts)!r} must name each participant once; allowed: 1 or more pairs")
        record = TxnRecord(txn_id, tuple((node, key) for node, key in parts), self.sim.now)
        self.log[txn_id] = record
        if self.alive:
            self._prepare(record)
        return record

    def on_restart(self) -> None:
        """Recover from the log: resend decisions, abort the undecided, begin the pending (in log order)."""
        for record in self.log.values():
            if record.decided and not record.finished:
                self._send_decision(record)
            elif record.status == "preparing":
                self._decide(record, False, "coordinator restarted before deciding")
            elif record.status == "pending":
                self._prepare(record)

    def _phase(self, record: TxnRecord, phase: str) -> bool:
        """Tell the observer; False when it crashed this node (then the caller stops)."""
        if self.on_phase is not None:
            self.on_phase(record.txn_id, phase)
        return self.alive

    def _prepare(self, record: TxnRecord) -> None:
        record.status = "preparing"
        self.votes[record.txn_id] = {}
        if not self._phase(record, "begin"):
            return
        for node, key in record.parts:
            msg = Prepare(req_id=self.sim.next_id(), txn_id=record.txn_id, key=key)
            self.request(node, msg, self.vote_timeout_ms,
                         lambda reply, src, r=record: self._on_vote(r, src, reply),
                         lambda r=record: self._on_vote_timeout(r))
        self._phase(record, "prepared")

    def _on_vote(self, record: TxnRecord, src: str, vote: Vote) -> None:
        if record.decided:
            return
        if not vote.yes:
            self._decide(record, False, vote.reason or "refused")
            return
        votes = self.votes.setdefault(record.txn_id, {})
        votes[src] = True
        if len(votes) == len(record.parts):
            self._decide(record, True, "")

    def _on_vote_timeout(self, record: TxnRecord) -> None:
        if not record.decided:
            self._decide(record, False, "no vote in time")

    def _decide(self, record: TxnRecord, commit: bool, reason: str) -> None:
        # The decision is durable before anyone hears it: that is what makes recovery possible.
        record.status = "committed" if commit else "aborted"
        record.reason = reason
        record.decided_at = self.sim.now
        self.votes.pop(record.txn_id, None)
        self._send_decision(record)

    def _send_decision(self, record: TxnRecord) -> None:
        first = True
        for node, _key in record.parts:
            if node not in record.acked:
                self._send_one(record, node, 1)
                if first:
                    first = False
                    if not self._phase(record, "decided"):
                        return

    def _send_one(self, record: TxnRecord, node: str, attempt: int) -> None:
        msg = Decision(req_id=self.sim.next_id(), txn_id=record.txn_id, commit=record.status == "committed")

        def again() -> None:
            # A late ack (after its timer) still counts: on_DecisionAck records it, so stop resending.
            if node not in record.acked and attempt < self.max_decision_attempts:
                self._send_one(record, node, attempt + 1)

        self.request(node, msg, self.decision_timeout_ms, lambda _reply, src: self._on_ack(record, src), again)

    def on_DecisionAck(self, msg: DecisionAck, src: str) -> None:
        """An ack that arrived after its request timed out (or after a restart): it still counts."""
        record = self.log.get(msg.txn_id)
        if record is not None and record.decided:
            self._on_ack(record, src)

    def _on_ack(self, record: TxnRecord, src: str) -> None:
        record.acked.add(src)
        if record.finished and record.finished_at == math.inf:
            record.finished_at = self.sim.now


class TwoPCParticipant(Node):
    """Holds one lock per key from its yes vote until the decision; never decides on its own.

    Durable state: the locks, the waiting queue, the prepared (in-doubt) transactions,
    the decisions heard, committed effects per transaction and every in-doubt span
    ``(txn, key, voted_at, decided_at)``, which is what blocking costs.
    """

    def __init__(self, name: str, sim: Simulation, network: Network, *, lock_wait_ms: float = 200.0,
                 refuse_rate: float = 0.0) -> None:
        self.lock_wait_ms = positive("lock_wait_ms", lock_wait_ms, "ms")
        self.refuse_rate = probability("refuse_rate", refuse_rate)
        self.locks: dict[str, str] = {}  # key -> txn holding it
        self.queue: dict[str, list[tuple[str, int, str, float]]] = {}  # key -> (txn, req_id, src, since)
        self.prepared: dict[str, tuple[str, float]] = {}  # txn -> (key, voted yes at)
        self.decided: dict[str, bool] = {}  # txn -> committed?
        self.applied: dict[str, int] = {}  # txn -> times its commit took effect (must be <= 1)
        self.in_doubt_spans: list[tuple[str, str, float, float]] = []
        self.lock_waits: list[float] = []  # ms each granted or abandoned wait lasted
        self.lock_timeouts = 0
        self.refused = 0
        self._refusals: dict[str, bool] = {}
        super().__init__(name, sim, network)
        self._rng = sim.rng(f"2pc/{name}")

    def in_doubt(self, txn_id: str) -> bool:
        """True while ``txn_id`` is prepared here and its decision has not arrived."""
        return txn_id in self.prepared

    def on_Prepare(self, msg: Prepare, src: str) -> None:
        """Vote at once if possible; else wait for the key's lock (bounded by ``lock_wait_ms``)."""
        txn = msg.txn_id
        if txn in self.decided:  # the abort overtook the prepare: never lock for a finished txn
            self.send(src, Vote(reply_to=msg.req_id, yes=False, reason="already decided"))
        elif txn in self.prepared:  # a duplicate: the same vote again
            self.send(src, Vote(reply_to=msg.req_id, yes=True))
        elif self._refuse(txn):
            self.refused += 1
            self.decided[txn] = False  # a no vote is final here: a late commit cannot arrive
            self.send(src, Vote(reply_to=msg.req_id, yes=False, reason="refused"))
        elif msg.key not in self.locks:
            self._grant(txn, msg.key, msg.req_id, src, self.sim.now)
        else:
            self.queue.setdefault(msg.key, []).append((txn, msg.req_id, src, self.sim.now))
            self.set_timer(self.lock_wait_ms, self._give_up, txn, msg.key)

    def on_Decision(self, msg: Decision, src: str) -> None:
        """Apply the decision once, release the lock, hand it to the next waiter, and acknowledge."""
        txn = msg.txn_id
        if txn in self.prepared:
            key, since = self.prepared.pop(txn)
            self.in_doubt_spans.append((txn, key, since, self.sim.now))
            if msg.commit:
                self.applied[txn] = self.applied.get(txn, 0) + 1
            self._release(key)
        else:
            self._drop_waiter(txn)
        self.decided.setdefault(txn, msg.commit)
        self.send(src, DecisionAck(reply_to=msg.req_id, txn_id=txn))

    def _refuse(self, txn: str) -> bool:
        # Decided once per transaction, so a duplicate prepare gets the same answer.
        if txn not in self._refusals:
            self._refusals[txn] = bool(self.refuse_rate) and self._rng.random() < self.refuse_rate
        return self._refusals[txn]

    def _grant(self, txn: str, key: str, req_id: int, src: str, since: float) -> None:
        self.locks[key] = txn
        self.prepared[txn] = (key, self.sim.now)
        self.lock_waits.append(self.sim.now - since)
        self.send(src, Vote(reply_to=req_id, yes=True))

    def _release(self, key: str) -> None:
        del self.locks[key]
        waiting = self.queue.get(key)
        if waiting:
            txn, req_id, src, since = waiting.pop(0)
            self._grant(txn, key, req_id, src, since)

    def _give_up(self, txn: str, key: str) -> None:
        for i, (waiter, req_id, src, since) in enumerate(self.queue.get(key, [])):
            if waiter == txn:
                del self.queue[key][i]
                self.lock_timeouts += 1
                self.lock_waits.append(self.sim.now - since)
                self.decided[txn] = False
                self.send(src, Vote(reply_to=req_id, yes=False, reason="lock wait timed out"))
                return

    def _drop_waiter(self, txn: str) -> None:
        for key, waiting in self.queue.items():
            self.queue[key] = [w for w in waiting if w[0] != txn]
