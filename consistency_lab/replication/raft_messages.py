"""Raft's records: log entries and the four peer messages, as frozen dataclasses.

Client traffic uses the register's own messages (``ClientWrite``, ``ClientRead``,
``WriteOk``, ``ReadOk``, ``Redirect``, ``Refused``) from :mod:`.client`, so the same
``RegisterClient`` drives primary–backup, quorums and Raft.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from ..node import Message

__all__ = ["LogEntry", "RequestVote", "VoteReply", "AppendEntries", "AppendReply", "NOOP"]

NOOP = "noop"


@dataclass(frozen=True)
class LogEntry:
    """One log entry: the term it was created in and its command.

    ``kind`` is ``"write"`` (``client``, ``seq``, ``key``, ``value`` set) or ``"noop"``
    (the entry a new leader appends so that an entry of its own term can commit).
    """

    term: int
    kind: str
    key: str = ""
    value: Any = None
    client: Optional[str] = None
    seq: Any = None


@dataclass(frozen=True)
class RequestVote(Message):
    """Candidate -> all: vote for me in ``term``; my log ends at (``last_index``, ``last_term``)."""

    term: int
    candidate: str
    last_index: int
    last_term: int


@dataclass(frozen=True)
class VoteReply(Message):
    """Voter -> candidate: my current term and whether I voted for you in it."""

    term: int
    granted: bool


@dataclass(frozen=True)
class AppendEntries(Message):
    """Leader -> follower: entries after (``prev_index``, ``prev_term``), and what is committed.

    ``round`` numbers the leader's heartbeat rounds, echoed back so ReadIndex can tell
    that a majority still followed it after a read arrived.
    """

    term: int
    leader: str
    prev_index: int
    prev_term: int
    entries: tuple
    commit: int
    round: int


@dataclass(frozen=True)
class AppendReply(Message):
    """Follower -> leader: my term; on success the index I now match, else my log length (a hint)."""

    term: int
    success: bool
    index: int
    round: int
