"""Raft (Ongaro & Ousterhout, 2014) for the replicated register, on the course's ``Node``.

One class, :class:`RaftReplica`, plays all three roles (follower, candidate,
leader), because a server moves between them on every election:

* **Election.** A follower that hears nothing from a leader for a randomised
  election timeout (drawn from the node's own ``sim.rng("raft/<name>")`` stream)
  becomes a candidate for the next term and asks for votes.  A voter grants at most
  one vote per term, and only to a candidate whose log is at least as up to date as
  its own (last term, then last index).  A majority of votes makes a leader, which
  at once appends a **no-op** of its term.
* **Replication.** AppendEntries carries the entries after (prev index, prev term);
  a follower refuses when its log has no such entry (the consistency check) and,
  on accepting, cuts its log at the first entry whose term disagrees (conflict
  truncation), never before.  A refusal carries a hint (the follower's length or
  prev - 1), so the leader backs up without guessing.
* **Commit rule.** The leader commits index N only when a majority holds it *and*
  entry N is of the leader's current term; older entries commit with it.  Counting
  replicas of an older term's entry is not enough (the paper's Figure 8), which
  ``tests/replication/test_raft_roles.py`` shows.
* **Durability.** ``term``, ``voted_for`` and ``log`` survive a crash; role,
  commit index, last applied, the leader's next/match indexes and the state
  machine are volatile.  A restarted server rebuilds its state machine by
  re-applying its log as it learns the commit index again.
* **Step-down.** Any message with a higher term makes a server a follower of that
  term; a leader or candidate of the same term steps down on an AppendEntries.
* **Exactly-once writes.** A write is identified by (client id, sequence).  The
  course's ``RegisterClient`` writes unique, increasing values and keeps the value
  when it retries after a redirect (only the request id changes), so the written
  value is the sequence number.  The leader does not append a (client, seq) its log
  already holds (it waits for that entry instead), and the state machine applies a
  (client, seq) at most once, so a retried or duplicated write lands once.
* **Reads: ReadIndex**, not reads through the log.  A read arrives at the leader;
  once the leader's no-op of its term is committed (so its commit index covers every
  write acknowledged by any earlier leader) it records read index = commit index,
  starts a heartbeat round, and answers when a majority has replied to that round in
  its term (no newer leader can exist yet) and it has applied up to the read index.
  We chose it because a read then costs one heartbeat round and no log entry: reads
  do not grow the durable log that every restart replays, several reads share one
  round, and the history stays linearizable.  Leases would save the round but lean on
  bounded clock drift, which the register scenario deliberately lets students break.

A leader that loses its majority keeps believing it leads until it hears a higher
term; its writes never commit and its reads never confirm, so its clients time out
(a write as "info": its fate is unknown), and nothing it acknowledged can be lost.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ..network import Network
from ..node import Node
from ..sim import Simulation
from ..validation import positive
from .client import ClientRead, ClientWrite, ReadOk, Redirect, Refused, WriteOk
from .raft_messages import NOOP, AppendEntries, AppendReply, LogEntry, RequestVote, VoteReply

__all__ = ["RaftReplica", "RAFT_ROLES"]

RAFT_ROLES = ("follower", "candidate", "leader")


class RaftReplica(Node):
    """One Raft server holding a replicated register (a key -> value map)."""

    MAX_PARKED = 1000  # client requests held during an election, at most

    def __init__(self, name: str, sim: Simulation, network: Network, *, peers: list[str],
                 region: Optional[str] = None, election_timeout_ms: tuple[float, float] = (150.0, 300.0),
                 heartbeat_ms: float = 50.0,
                 on_change: Optional[Callable[["RaftReplica"], None]] = None,
                 on_leader: Optional[Callable[["RaftReplica"], None]] = None,
                 observer: Any = None) -> None:
        low, high = (positive("election_timeout_min_ms", election_timeout_ms[0]),
                     positive("election_timeout_max_ms", election_timeout_ms[1]))
        if high < low:
            raise ValueError(f"election_timeout_max_ms={high:g} must be >= election_timeout_min_ms={low:g}")
        self.election_timeout_ms = (low, high)
        self.heartbeat_ms = positive("heartbeat_ms", heartbeat_ms)
        if name not in peers:
            raise ValueError(f"peers={peers!r} must include this replica's name {name!r}")
        self.cluster = list(peers)
        self.peers = [p for p in peers if p != name]
        self.majority = len(self.cluster) // 2 + 1
        self.on_change = on_change
        self.on_leader = on_leader
        # A viewer's recorder (raft_recorder.RaftRecorder): told of every send and every
        # handled event; it only reads, so a run is the same with or without one.
        self.observer = observer
        # Durable state (Figure 2's "persistent state on all servers"): survives crashes.
        self.term = 0
        self.voted_for: Optional[str] = None
        self.log: list[LogEntry] = []
        # Where each (client, seq) sits in our log: derived from the log, kept beside it
        # so a duplicate write is found without scanning.
        self._where: dict[tuple, int] = {}
        self._rng = sim.rng(f"raft/{name}")
        super().__init__(name, sim, network, region=region)

    # -- state ---------------------------------------------------------------
    def init_volatile(self) -> None:
        """Role, commit index, applied state and leader bookkeeping: lost on a crash."""
        self.role = "follower"
        self.leader: Optional[str] = None
        self.commit = 0
        self.applied = 0
        self.data: dict[str, Any] = {}
        self.applied_writes: set[tuple] = set()
        self.votes: set[str] = set()
        self.next_index: dict[str, int] = {}
        self.match_index: dict[str, int] = {}
        self.acked_round: dict[str, int] = {}
        self.round = 0
        self.noop_index = 0  # index of this leader's no-op of its term
        self.waiting_writes: dict[int, tuple[str, int]] = {}  # log index -> (client, req_id)
        self.pending_reads: list[list] = []  # [client, req_id, key, read_index, round]
        self.parked: list[tuple[Any, str]] = []  # client requests held while no leader is known
        self._deadline = 0.0
        self._timer_at: Optional[float] = None

    def start(self) -> None:
        """Begin as a follower waiting for a leader."""
        self._reset_election()

    def on_restart(self) -> None:
        """Back with term, vote and log; everything else is relearned."""
        self.start()
        self._observed()

    def on_crash(self) -> None:
        """Tell the observer the server is down (its durable state stays)."""
        self._observed()

    def _observed(self) -> None:
        if self.observer is not None:
            self.observer.state_changed(self)

    def receive(self, msg: Any, src: str) -> None:
        """Handle ``msg`` as every node does, then let the observer see the new state."""
        super().receive(msg, src)
        self._observed()

    def send(self, dst: str, msg: Any) -> None:
        """Send as every node does; the observer hears of it first (to find it in the trace)."""
        if self.observer is not None and self.alive:
            self.observer.sending(self, dst, msg)
        super().send(dst, msg)

    @property
    def is_primary(self) -> bool:
        """True while this server believes it is the leader (the register scenario's name)."""
        return self.role == "leader"

    @property
    def last_index(self) -> int:
        """Index of the last log entry (0 for an empty log)."""
        return len(self.log)

    @property
    def last_term(self) -> int:
        """Term of the last log entry (0 for an empty log)."""
        return self.log[-1].term if self.log else 0

    def value(self, key: str = "x") -> Any:
        """The value of ``key`` in this server's applied state machine."""
        return self.data.get(key)

    def committed_log(self) -> list[LogEntry]:
        """The prefix of the log this server knows is committed."""
        return self.log[:self.commit]

    # -- election ------------------------------------------------------------
    def _reset_election(self) -> None:
        """Push the election deadline out by a fresh random timeout.

        One timer per deadline would queue a timer per heartbeat; instead a single timer
        wakes at the old deadline and re-arms itself for the new one.
        """
        self._deadline = self.sim.now + self._rng.uniform(*self.election_timeout_ms)
        if self._timer_at is None:
            self._timer_at = self._deadline
            self.set_timer(self._deadline - self.sim.now, self._election_timer)

    def _election_timer(self) -> None:
        self._timer_at = None
        if self.role == "leader":
            return  # leaders do not time out; stepping down re-arms the timer
        if self.sim.now < self._deadline:
            self._timer_at = self._deadline
            self.set_timer(self._deadline - self.sim.now, self._election_timer)
            return
        self._start_election()
        self._observed()

    def _start_election(self) -> None:
        self.term += 1
        self.role = "candidate"
        self.voted_for = self.name
        self.leader = None
        self.votes = {self.name}
        self._reset_election()
        self.broadcast(self.peers, RequestVote(self.term, self.name, self.last_index, self.last_term))
        if len(self.votes) >= self.majority:
            self._become_leader()

    def _up_to_date(self, last_term: int, last_index: int) -> bool:
        """The election restriction: the candidate's log is at least as up to date as ours."""
        return (last_term, last_index) >= (self.last_term, self.last_index)

    def on_RequestVote(self, msg: RequestVote, src: str) -> None:
        """Grant one vote per term, only to a candidate whose log is at least as up to date."""
        if msg.term > self.term:
            self._step_down(msg.term)
        granted = (msg.term == self.term and self.voted_for in (None, msg.candidate)
                   and self._up_to_date(msg.last_term, msg.last_index))
        if granted:
            self.voted_for = msg.candidate
            self._reset_election()  # a vote is a reason to wait for that candidate
        self.send(src, VoteReply(self.term, granted))

    def on_VoteReply(self, msg: VoteReply, src: str) -> None:
        """Count votes of this term; a majority makes this candidate the leader."""
        if msg.term > self.term:
            self._step_down(msg.term)
            return
        if self.role != "candidate" or msg.term != self.term or not msg.granted:
            return
        self.votes.add(src)
        if len(self.votes) >= self.majority:
            self._become_leader()

    def _become_leader(self) -> None:
        self.role = "leader"
        self.leader = self.name
        self.next_index = {p: self.last_index + 1 for p in self.peers}
        self.match_index = {p: 0 for p in self.peers}
        self.acked_round = {p: 0 for p in self.peers}
        self.round = 0
        self.sim.record("note", self.name, "", "leader", detail=f"term {self.term}")
        if self.on_leader is not None:
            self.on_leader(self)
        # The no-op lets this term commit something of its own, which is what commits
        # (and lets reads see) everything earlier leaders left behind.
        self.append_entry(LogEntry(self.term, NOOP))
        self.noop_index = self.last_index
        self._broadcast_append()
        self.set_timer(self.heartbeat_ms, self._heartbeat, self.term)
        self._unpark()

    def _heartbeat(self, term: int) -> None:
        if self.role == "leader" and self.term == term:
            self._broadcast_append()
            self.set_timer(self.heartbeat_ms, self._heartbeat, term)
            self._observed()  # a one-server cluster commits on its own heartbeat

    def _step_down(self, term: int) -> None:
        """Become a follower of ``term`` (a newer one, or ours when another server leads it)."""
        if term > self.term:
            self.term = term
            self.voted_for = None
        was = self.role
        self.role = "follower"
        if was == "leader":
            self.sim.record("note", self.name, "", "step down", detail=f"term {self.term}")
            # Unanswered writes may still commit under the next leader: their clients
            # must time out ("unknown"), never hear "failed".
            self.waiting_writes.clear()
            self.pending_reads.clear()
            self.leader = None
            self._reset_election()
        elif was == "candidate":
            self.leader = None

    # -- log -----------------------------------------------------------------
    def append_entry(self, entry: LogEntry) -> None:
        """Add ``entry`` to this server's own log (the leader's way in; experiments and tests use it too)."""
        self.log.append(entry)
        if entry.kind == "write":
            self._where[(entry.client, entry.seq)] = self.last_index

    def _truncate(self, keep: int) -> None:
        """Drop every entry after index ``keep`` (a conflict with the leader's log)."""
        for index in range(keep + 1, self.last_index + 1):
            e = self.log[index - 1]
            if e.kind == "write" and self._where.get((e.client, e.seq)) == index:
                del self._where[(e.client, e.seq)]
        del self.log[keep:]

    def _send_append(self, peer: str) -> None:
        prev = self.next_index[peer] - 1
        prev_term = self.log[prev - 1].term if prev else 0
        self.send(peer, AppendEntries(self.term, self.name, prev, prev_term, tuple(self.log[prev:]),
                                      self.commit, self.round))

    def _broadcast_append(self) -> None:
        """A new heartbeat round to every follower, with whatever each one lacks."""
        self.round += 1
        for peer in self.peers:
            self._send_append(peer)
        self._advance_commit()  # a one-server cluster is its own majority

    def on_AppendEntries(self, msg: AppendEntries, src: str) -> None:
        """Consistency check, conflict truncation, append, and learn the commit index."""
        if msg.term < self.term:
            self.send(src, AppendReply(self.term, False, self.last_index, msg.round))
            return
        if msg.term > self.term or self.role != "follower":
            self._step_down(msg.term)
        self.leader = src
        self._reset_election()
        if self.parked:
            self._unpark()
        prev = msg.prev_index
        if prev > self.last_index or (prev > 0 and self.log[prev - 1].term != msg.prev_term):
            self.send(src, AppendReply(self.term, False, min(self.last_index, prev - 1), msg.round))
            return
        for offset, entry in enumerate(msg.entries):
            index = prev + 1 + offset
            if index <= self.last_index:
                if self.log[index - 1].term == entry.term:
                    continue  # already have it; a stale, shorter message must not cut the log
                self._truncate(index - 1)
            self.append_entry(entry)
        matched = prev + len(msg.entries)
        # Only what we just checked against the leader may be marked committed here.
        if msg.commit > self.commit:
            self.commit = max(self.commit, min(msg.commit, matched))
            self._apply()
        self.send(src, AppendReply(self.term, True, matched, msg.round))

    def on_AppendReply(self, msg: AppendReply, src: str) -> None:
        """Track what each follower holds; commit; back up next_index on a refusal."""
        if msg.term > self.term:
            self._step_down(msg.term)
            return
        if self.role != "leader" or msg.term != self.term:
            return
        self.acked_round[src] = max(self.acked_round[src], msg.round)
        if msg.success:
            if msg.index > self.match_index[src]:
                self.match_index[src] = msg.index
            self.next_index[src] = max(self.next_index[src], self.match_index[src] + 1)
            self._advance_commit()
        elif msg.index + 1 < self.next_index[src]:
            # The hint is idempotent, so a duplicated refusal does not back up twice.
            self.next_index[src] = max(msg.index + 1, self.match_index[src] + 1, 1)
            self._send_append(src)
        self._serve_reads()

    def _advance_commit(self) -> None:
        """The commit rule: count replicas only for entries of the current term."""
        for n in range(self.last_index, self.commit, -1):
            if self.log[n - 1].term != self.term:
                break  # terms never decrease along a log: everything below is older too
            holders = 1 + sum(1 for p in self.peers if self.match_index[p] >= n)
            if holders >= self.majority:
                self.commit = n
                self._apply()
                break
        if self.role == "leader" and self.commit >= self.noop_index:
            for read in self.pending_reads:
                if read[3] is None:
                    read[3] = self.commit
                    read[4] = self.round + 1
            if any(read[4] == self.round + 1 for read in self.pending_reads):
                self._broadcast_append()
                return
        self._serve_reads()

    def _apply(self) -> None:
        changed = False
        while self.applied < self.commit:
            self.applied += 1
            e = self.log[self.applied - 1]
            if e.kind == "write" and (e.client, e.seq) not in self.applied_writes:
                self.applied_writes.add((e.client, e.seq))
                self.data[e.key] = e.value
                changed = True
        if self.role == "leader":
            for index in sorted(i for i in self.waiting_writes if i <= self.commit):
                client, req_id = self.waiting_writes.pop(index)
                self.send(client, WriteOk(req_id))
        if changed and self.on_change is not None:
            self.on_change(self)

    # -- clients -------------------------------------------------------------
    def _not_leader(self, msg: Any, src: str) -> None:
        if self.leader is not None and self.leader != self.name:
            self.reply(src, msg, Redirect, primary=self.leader)
        elif len(self.parked) < self.MAX_PARKED:
            # During an election nobody leads yet: hold the request until someone does
            # (the client's own timeout still bounds the wait) rather than fail it.
            self.parked.append((msg, src))
        else:
            self.reply(src, msg, Refused, reason="no leader known")

    def _unpark(self) -> None:
        """A leader is known (maybe us): pass every held client request on."""
        parked, self.parked = self.parked, []
        for msg, src in parked:
            self.receive(msg, src)

    def on_ClientWrite(self, msg: ClientWrite, src: str) -> None:
        """Leader: append once per (client, seq) and answer when committed; others redirect."""
        if self.role != "leader":
            self._not_leader(msg, src)
            return
        index = self._where.get((src, msg.value))
        if index is not None and index <= self.commit:
            self.reply(src, msg, WriteOk)
            return
        if index is None:
            self.append_entry(LogEntry(self.term, "write", msg.key, msg.value, src, msg.value))
            index = self.last_index
        self.waiting_writes[index] = (src, msg.req_id)
        self._broadcast_append()

    def on_ClientRead(self, msg: ClientRead, src: str) -> None:
        """Leader: ReadIndex (after its no-op commits, confirm leadership by a heartbeat round)."""
        if self.role != "leader":
            self._not_leader(msg, src)
            return
        if self.commit >= self.noop_index:
            self.pending_reads.append([src, msg.req_id, msg.key, self.commit, self.round + 1])
            self._broadcast_append()
        else:
            self.pending_reads.append([src, msg.req_id, msg.key, None, None])

    def _serve_reads(self) -> None:
        if self.role != "leader" or not self.pending_reads:
            return
        rounds = sorted([self.round] + [self.acked_round[p] for p in self.peers], reverse=True)
        confirmed = rounds[self.majority - 1]
        keep = []
        for read in self.pending_reads:
            client, req_id, key, read_index, rnd = read
            if rnd is not None and rnd <= confirmed and self.applied >= read_index:
                self.send(client, ReadOk(req_id, self.data.get(key)))
            else:
                keep.append(read)
        self.pending_reads = keep
