"""What a RaftScope-style view needs from a Raft run, recorded as data: server states and messages in flight.

A :class:`RaftRecorder` is attached to every :class:`~.raft.RaftReplica` of a run (their
``observer``).  Each server tells it when it has handled a message, a timer, a crash or a
restart; the recorder keeps a :class:`ServerState` only when something a viewer shows has
changed (role, term, log, commit index, vote, up or down), so a heartbeat that changes
nothing costs one comparison.  Peer messages are tied to the network trace by the index
of their "send" event, so each copy's fate (delivered at t, or dropped and why) comes from
the trace itself.  :meth:`RaftRecorder.timeline` freezes it all into a :class:`RaftTimeline`
with the queries a figure needs (state at t, messages in flight at t, role spans, commit
steps).  Pure data: no matplotlib, no randomness, nothing that changes the run.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import Any, Optional

from ..sim import Simulation
from .raft_messages import AppendEntries, AppendReply, RequestVote, VoteReply

__all__ = ["ServerState", "MessageFlight", "RaftTimeline", "RaftRecorder", "TIMELINE_ROLES", "PEER_MESSAGES",
           "time_without_leader", "one_leader_per_term"]

#: A server's role as a viewer shows it: the three Raft roles, or down (crashed).
TIMELINE_ROLES = ("follower", "candidate", "leader", "down")
#: The peer messages a timeline keeps (client traffic is in the history instead).
PEER_MESSAGES = ("RequestVote", "VoteReply", "AppendEntries", "AppendReply")


@dataclass(frozen=True)
class ServerState:
    """One server from ``time`` on: role ("down" when crashed), term, its log's entry terms, commit index."""

    time: float
    server: str
    role: str
    term: int
    log_terms: tuple[int, ...]
    commit: int
    voted_for: Optional[str] = None

    @property
    def last_index(self) -> int:
        """Index of the last log entry (0 for an empty log)."""
        return len(self.log_terms)


@dataclass(frozen=True)
class MessageFlight:
    """One copy of a peer message: who to whom, when sent and when it arrived or was dropped.

    ``outcome`` is "delivered" or "dropped: <why>" (partition, loss, crashed); ``entries`` counts
    the log entries an AppendEntries carried (0: a heartbeat); ``ok`` is a reply's answer
    (vote granted, append succeeded), None for requests.
    """

    src: str
    dst: str
    kind: str
    term: int
    sent: float
    arrived: float
    outcome: str
    entries: int = 0
    ok: Optional[bool] = None

    def in_flight(self, t: float) -> bool:
        """True while the message is on the wire at ``t`` (sent, not yet arrived or dropped)."""
        return self.sent <= t < self.arrived


@dataclass(frozen=True)
class RaftTimeline:
    """Every server's state over a run's virtual time, and every peer message's flight."""

    servers: tuple[str, ...]
    start: float
    end: float
    changes: tuple[ServerState, ...]  # in time order; the first per server is its state at ``start``
    messages: tuple[MessageFlight, ...]  # in send order

    def __post_init__(self) -> None:
        per: dict[str, list[ServerState]] = {s: [] for s in self.servers}
        for c in self.changes:
            per[c.server].append(c)
        object.__setattr__(self, "_per", per)
        object.__setattr__(self, "_times", {s: [c.time for c in cs] for s, cs in per.items()})
        object.__setattr__(self, "_sent", [m.sent for m in self.messages])
        object.__setattr__(self, "_longest", max((m.arrived - m.sent for m in self.messages), default=0.0))

    def history_of(self, server: str) -> list[ServerState]:
        """Every recorded state of ``server``, in time order."""
        if server not in self._per:
            raise ValueError(f"server={server!r} must be one of this run's servers; allowed: {', '.join(self.servers)}")
        return list(self._per[server])

    def state_at(self, t: float) -> dict[str, ServerState]:
        """Each server's state at virtual time ``t`` (the last change at or before ``t``)."""
        out = {}
        for s in self.servers:
            i = bisect_right(self._times[s], t) - 1
            out[s] = self._per[s][max(i, 0)]
        return out

    def in_flight(self, t: float) -> list[MessageFlight]:
        """Copies of peer messages on the wire at ``t``, in send order."""
        hi = bisect_right(self._sent, t)
        lo = bisect_right(self._sent, t - self._longest - 1e-9)
        return [m for m in self.messages[max(lo - 1, 0):hi] if m.in_flight(t)]

    def role_spans(self, server: str) -> list[tuple[float, float, str, int]]:
        """(start, end, role, term) spans of ``server`` covering the run; a new span at each role or term change."""
        spans: list[list[Any]] = []
        for c in self.history_of(server):
            if spans and spans[-1][2:] == [c.role, c.term]:
                continue
            if spans:
                spans[-1][1] = c.time
            spans.append([c.time, self.end, c.role, c.term])
        return [tuple(s) for s in spans if s[1] > s[0] or s is spans[-1]]

    def commit_steps(self, server: str) -> list[tuple[float, int]]:
        """(time, commit index) whenever ``server``'s commit index changed (0 after a crash until relearned)."""
        steps: list[tuple[float, int]] = []
        for c in self.history_of(server):
            if not steps or steps[-1][1] != c.commit:
                steps.append((c.time, c.commit))
        return steps

    def leaders(self) -> list[tuple[float, str, int]]:
        """(time, server, term) each time a server became leader."""
        out = []
        last: dict[str, tuple[str, int]] = {}
        for c in self.changes:
            key = (c.role, c.term)
            if c.role == "leader" and last.get(c.server) != key:
                out.append((c.time, c.server, c.term))
            last[c.server] = key
        return out


def _snapshot(replica: Any, now: float) -> ServerState:
    role = replica.role if replica.alive else "down"
    return ServerState(now, replica.name, role, replica.term, tuple(e.term for e in replica.log),
                       replica.commit if replica.alive else 0, replica.voted_for)


class RaftRecorder:
    """Collects server states and peer messages while a run goes on; :meth:`timeline` freezes them."""

    def __init__(self, sim: Simulation) -> None:
        if not sim.tracing:
            raise ValueError("sim.tracing=False must be True for a RaftRecorder; allowed: a traced Simulation")
        self.sim = sim
        self._states: list[ServerState] = []
        self._last: dict[str, tuple] = {}
        self._sends: list[tuple[int, Any]] = []  # (index of the "send" trace event, message)
        self._servers: list[str] = []

    def watch(self, replica: Any) -> None:
        """Start recording ``replica`` (call before the run; its state now is its first state)."""
        self._servers.append(replica.name)
        self.state_changed(replica)

    # -- what RaftReplica calls (its ``observer``) ----------------------------------
    def state_changed(self, replica: Any) -> None:
        """Keep the replica's state if anything a viewer shows differs from the last one kept."""
        s = _snapshot(replica, self.sim.now)
        key = (s.role, s.term, s.commit, s.voted_for, len(s.log_terms), s.log_terms[-1:] if s.log_terms else ())
        last = self._last.get(replica.name)
        # Equal length and last term can still hide a rewritten log (truncate then append): compare it all then.
        if last is not None and last[0] == key and last[1].log_terms == s.log_terms:
            return
        self._last[replica.name] = (key, s)
        self._states.append(s)

    def sending(self, replica: Any, dst: str, msg: Any) -> None:
        """A peer message is about to be sent: remember which trace event will record it."""
        if type(msg).__name__ in PEER_MESSAGES:
            self._sends.append((len(self.sim.trace), msg))

    # -- the result ------------------------------------------------------------
    def timeline(self, end: Optional[float] = None) -> RaftTimeline:
        """Everything recorded up to now (or ``end``), as an immutable :class:`RaftTimeline`."""
        trace = self.sim.trace
        end = self.sim.now if end is None else end
        fates: dict[int, list[tuple[float, str]]] = {}
        wanted = set()
        for index, _msg in self._sends:
            wanted.add(trace[index].msg_id)
        for ev in trace:
            if ev.msg_id in wanted and ev.kind in ("deliver", "drop"):
                fates.setdefault(ev.msg_id, []).append(
                    (ev.time, "delivered" if ev.kind == "deliver" else f"dropped: {ev.detail}"))
        flights = []
        for index, msg in self._sends:
            ev = trace[index]
            for arrived, outcome in fates.get(ev.msg_id, [(end, "in flight at the end")]):
                flights.append(MessageFlight(ev.src, ev.dst, ev.what, msg.term, ev.time, arrived, outcome,
                                             len(msg.entries) if isinstance(msg, AppendEntries) else 0,
                                             _answer(msg)))
        return RaftTimeline(tuple(self._servers), 0.0, end, tuple(self._states), tuple(flights))


def _answer(msg: Any) -> Optional[bool]:
    if isinstance(msg, VoteReply):
        return msg.granted
    if isinstance(msg, AppendReply):
        return msg.success
    if isinstance(msg, RequestVote):
        return None
    return None


def time_without_leader(timeline: RaftTimeline) -> float:
    """Virtual ms during which no leader was followed by a majority (the first election included).

    A server counts as *the* leader while it leads a term that a majority of all servers
    are in (an isolated old leader that still believes it leads does not count once the
    others have moved to a newer term).
    """
    majority = len(timeline.servers) // 2 + 1
    current: dict[str, ServerState] = {}
    without, since = 0.0, timeline.start
    led = False
    i, changes = 0, timeline.changes
    while i < len(changes):
        t = changes[i].time
        while i < len(changes) and changes[i].time == t:  # every change at one instant, then judge
            current[changes[i].server] = changes[i]
            i += 1
        now_led = any(s.role == "leader" and sum(o.term == s.term and o.role != "down" for o in current.values())
                      >= majority for s in current.values())
        if not led and now_led:
            without += t - since
        elif led and not now_led:
            since = t
        led = now_led
    if not led:
        without += timeline.end - since
    return without


def one_leader_per_term(timeline: RaftTimeline) -> bool:
    """Election safety, as the timeline saw it: no two servers ever led the same term."""
    leader_of: dict[int, str] = {}
    for _t, server, term in timeline.leaders():
        if leader_of.setdefault(term, server) != server:
            return False
    return True
