"""Primary–backup replication of a register: sync, semi-sync (k acks) and async.

One replica is the primary.  It appends every write to its log and ships the entry
to the backups.  The modes differ only in *when the client hears "ok"*:

* ``sync``: after every backup has the entry;
* ``semi-sync``: after ``k`` backups have it;
* ``async``: at once; the backups catch up later.

Backups watch the primary's heartbeats.  When they stop, the first backup in line
promotes itself with a higher *epoch*.  Nothing here prevents two primaries on two
sides of a partition (that needs consensus: see Raft); when they meet again the
lower epoch steps down and adopts the winner's log, and any write only it had is
gone, even though a client was told "ok".  Counting those writes is the point.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from ..network import Network
from ..node import Message, Node
from ..sim import Simulation
from .client import ClientRead, ClientWrite, ReadOk, Redirect, WriteOk

__all__ = ["PrimaryBackupReplica", "PB_MODES"]

PB_MODES = ("sync", "semi-sync", "async")


@dataclass(frozen=True)
class Entry:
    """One log entry: the write's unique value (which identifies it) and the key it was written to."""

    value: Any
    key: str = "x"


@dataclass(frozen=True)
class Replicate(Message):
    """Primary -> backup: here is entry ``index`` of epoch ``epoch``."""

    epoch: tuple
    index: int
    entry: Entry


@dataclass(frozen=True)
class Ack(Message):
    """Backup -> primary: I hold every entry up to ``index`` (or: my epoch is newer)."""

    epoch: tuple
    index: int


@dataclass(frozen=True)
class Heartbeat(Message):
    """Primary -> all: I lead ``epoch`` and my log has ``length`` entries."""

    epoch: tuple
    length: int


@dataclass(frozen=True)
class SyncRequest(Message):
    """Backup -> primary: send me your log from ``start``."""

    epoch: tuple
    start: int


@dataclass(frozen=True)
class SyncReply(Message):
    """Primary -> backup: entries from ``start`` onwards."""

    epoch: tuple
    start: int
    entries: tuple


class PrimaryBackupReplica(Node):
    """A replica that is either the primary or a backup of one register."""

    def __init__(self, name: str, sim: Simulation, network: Network, *, region: Optional[str],
                 peers: list[str], mode: str, acks_needed: int, is_primary: bool,
                 heartbeat_ms: float, failover_timeout_ms: float, failover: bool,
                 serve_local_reads: bool,
                 on_change: Optional[Callable[["PrimaryBackupReplica"], None]] = None) -> None:
        if mode not in PB_MODES:
            raise ValueError(f"mode={mode!r} must be one of {', '.join(PB_MODES)}")
        # Durable state: survives crashes.
        self.peers = [p for p in peers if p != name]
        self.mode = mode
        self.acks_needed = acks_needed
        self.heartbeat_ms = heartbeat_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.failover = failover
        self.serve_local_reads = serve_local_reads
        self.on_change = on_change
        self.log: list[Entry] = []
        # (number, rank of the promoter): two backups promoting at once still get
        # different epochs, so one of them always wins when they meet.
        self.epoch: tuple[int, int] = (0, 0)
        self.primary = peers[0]
        self.committed = 0  # number of log entries known to be committed
        # After an epoch change our log may disagree with the new primary's anywhere,
        # so only a whole copy (SyncReply from 0) makes it trustworthy again.
        self.needs_full_sync = False
        self.rank = peers.index(name)  # order in which backups try to take over
        super().__init__(name, sim, network, region=region)
        if is_primary:
            self.primary = name

    # -- state ---------------------------------------------------------------
    def init_volatile(self) -> None:
        """Forget in-flight writes and failure-detector state (they live in memory only)."""
        self.waiting: dict[int, tuple[str, int]] = {}  # log index -> (client, req_id)
        self.match: dict[str, int] = {}  # backup -> entries it is known to hold
        self.last_heard = self.sim.now
        self.sync_sent_at = -1e18  # when we last asked the primary for its log
        self.seen_requests: set[int] = set()  # client request ids already appended

    def start(self) -> None:
        """Start heartbeats (primary) or the failure detector (backups)."""
        self.set_timer(0.0, self._tick)

    def on_restart(self) -> None:
        """A restarted node rejoins as a backup until it hears who leads."""
        self.last_heard = self.sim.now
        self.start()

    @property
    def is_primary(self) -> bool:
        """True if this replica believes it is the primary."""
        return self.primary == self.name

    def value(self, key: str = "x") -> Any:
        """The value of ``key`` this replica would serve: committed on a sync primary, else the latest."""
        n = self.committed if (self.is_primary and self.mode != "async") else len(self.log)
        for entry in reversed(self.log[:n]):  # one sequence for every key: the newest entry of ``key`` wins
            if entry.key == key:
                return entry.value
        return None

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change(self)

    # -- periodic work -------------------------------------------------------
    def _tick(self) -> None:
        if self.is_primary:
            self.broadcast(self.peers, Heartbeat(self.epoch, len(self.log)))
        elif self.failover:
            patience = self.failover_timeout_ms * (1 + 0.5 * self.rank)
            if self.sim.now - self.last_heard > patience:
                self._promote()
        self.set_timer(self.heartbeat_ms, self._tick)

    def _promote(self) -> None:
        self.epoch = (self.epoch[0] + 1, self.rank)
        self.primary = self.name
        self.committed = len(self.log)  # what it has is all the new epoch will ever know of the old
        self.waiting.clear()
        self.match.clear()
        self.sim.record("note", self.name, "", "promote", detail=f"epoch {self.epoch[0]}.{self.epoch[1]}")
        self.broadcast(self.peers, Heartbeat(self.epoch, len(self.log)))
        self._changed()

    def _follow(self, epoch: tuple, primary: str) -> None:
        """Adopt a newer epoch: step down if needed and fetch the winner's whole log."""
        was_primary = self.is_primary
        self.epoch, self.primary = epoch, primary
        self.waiting.clear()
        self.match.clear()
        if was_primary:
            self.sim.record("note", self.name, "", "step down", detail=f"epoch {epoch[0]}.{epoch[1]}")
        self.needs_full_sync = True
        self._request_sync(0)

    def _syncing(self) -> bool:
        # A sync request may be lost: after a couple of heartbeats, allow another.
        return self.sim.now - self.sync_sent_at < 2 * self.heartbeat_ms

    def _request_sync(self, start: int) -> None:
        if self.needs_full_sync:
            start = 0
        self.sync_sent_at = self.sim.now
        self.send(self.primary, SyncRequest(self.epoch, start))

    # -- client requests -----------------------------------------------------
    def on_ClientWrite(self, msg: ClientWrite, src: str) -> None:
        """Primary: append and replicate; others: redirect the client."""
        if not self.is_primary:
            self.reply(src, msg, Redirect, primary=self.primary)
            return
        if msg.req_id in self.seen_requests:
            return  # a duplicated request must not append the same write twice
        self.seen_requests.add(msg.req_id)
        self.log.append(Entry(msg.value, msg.key))
        index = len(self.log)
        self.broadcast(self.peers, Replicate(self.epoch, index, self.log[-1]))
        if self.mode == "async" or self.acks_needed == 0:
            self.committed = index
            self.reply(src, msg, WriteOk)
        else:
            self.waiting[index] = (src, msg.req_id)
        self._changed()

    def on_ClientRead(self, msg: ClientRead, src: str) -> None:
        """Serve locally when allowed, else only the primary answers."""
        if self.is_primary or self.serve_local_reads:
            self.reply(src, msg, ReadOk, value=self.value(msg.key))
        else:
            self.reply(src, msg, Redirect, primary=self.primary)

    # -- replication ---------------------------------------------------------
    def on_Replicate(self, msg: Replicate, src: str) -> None:
        """Append the entry if it is the next one; otherwise ask to catch up."""
        if msg.epoch < self.epoch:
            self.send(src, Ack(self.epoch, 0))  # tells a deposed primary to step down
            return
        self.last_heard = self.sim.now
        if msg.epoch > self.epoch or self.primary != src:
            self._follow(msg.epoch, src)
            return
        if self._syncing():
            return
        if self.needs_full_sync:
            self._request_sync(0)
            return
        if msg.index == len(self.log) + 1:
            self.log.append(msg.entry)
            self._changed()
        elif msg.index > len(self.log) + 1:
            self._request_sync(len(self.log))
            return
        self.send(src, Ack(self.epoch, len(self.log)))

    def on_Ack(self, msg: Ack, src: str) -> None:
        """Count acks; commit entries in order once enough backups hold them."""
        if msg.epoch > self.epoch:
            self._follow(msg.epoch, src)
            return
        if not self.is_primary or msg.epoch < self.epoch:
            return
        self.match[src] = max(self.match.get(src, 0), msg.index)
        if self.mode == "async":
            return
        holders = sorted(self.match.values(), reverse=True)
        if len(holders) < self.acks_needed:
            return
        # The k-th best backup bounds what k backups all hold.
        new_commit = min(holders[self.acks_needed - 1], len(self.log))
        if new_commit > self.committed:
            for index in range(self.committed + 1, new_commit + 1):
                waiter = self.waiting.pop(index, None)
                if waiter is not None:
                    self.send(waiter[0], WriteOk(waiter[1]))
            self.committed = new_commit
            self._changed()

    def on_Heartbeat(self, msg: Heartbeat, src: str) -> None:
        """Track the primary's liveness; resolve competing primaries by epoch."""
        if msg.epoch < self.epoch:
            if self.is_primary:
                self.send(src, Heartbeat(self.epoch, len(self.log)))  # you are deposed
            return
        if msg.epoch > self.epoch or (self.primary != src and msg.epoch == self.epoch and not self.is_primary):
            self._follow(msg.epoch, src)
            self.last_heard = self.sim.now
            return
        if self.primary != src:
            return  # epochs are unique per promoter, so this is a stale message
        self.last_heard = self.sim.now
        if (msg.length > len(self.log) or self.needs_full_sync) and not self._syncing():
            # Anti-entropy: heartbeats reveal missed entries, so lost messages heal.
            self._request_sync(len(self.log))

    def on_SyncRequest(self, msg: SyncRequest, src: str) -> None:
        """Primary: send the requested suffix of the log."""
        if self.is_primary and msg.epoch <= self.epoch:
            self.send(src, SyncReply(self.epoch, msg.start, tuple(self.log[msg.start:])))

    def on_SyncReply(self, msg: SyncReply, src: str) -> None:
        """Backup: replace the log from ``start`` with the primary's entries."""
        if msg.epoch < self.epoch or src != self.primary:
            return
        if msg.start > len(self.log) or (self.needs_full_sync and msg.start != 0):
            return
        self.sync_sent_at = -1e18
        self.needs_full_sync = False
        self.log[msg.start:] = list(msg.entries)
        self.last_heard = self.sim.now
        self._changed()
        self.send(src, Ack(self.epoch, len(self.log)))
