"""A central editing service that serialises edits and needs the editor to be connected.

The server holds the one authoritative document (characters with tombstones, as an
operational-transformation server's history lets it place an edit against a newer
version) and a version number.  It accepts each edit of a *connected* editor, in
arrival order, even if the editor had not yet seen the latest version: an insert goes
right after the character the editor typed it after, a delete hides its character.
Every ``sync_ms`` it sends each editor the current document, its version, and how many
of that editor's edits are settled.

An editor that has heard nothing from the server for ``offline_after_ms`` shows
"offline": what it types from then on is kept locally and sent when the connection
returns.  This service then **rejects** the offline edits if anyone else's edit was
committed since the version the editor last saw, and the editor shows a conflict that a
person must resolve (here: the person is told, and the shared document stays as the
server has it, so the offline characters are not in it).  If nobody else edited
meanwhile, the offline edits apply cleanly.  Edits typed before the editor noticed the
cut are not offline edits: they are delivered late and accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from bisect import bisect_left
from itertools import compress

from ..network import Network
from ..node import Message, Node
from ..sim import Simulation
from .document_editors import EditorNode
from .document_session import Keystroke

__all__ = ["CentralOp", "Submit", "ServerState", "CentralServer", "CentralEditor", "Rejection", "TombText"]


@dataclass(frozen=True)
class CentralOp:
    """One edit as the server sees it: ``ins`` of ``char`` after ``anchor`` ("" = at the start), or ``del``.

    ``offline`` edits carry ``base``: the last version their editor had seen when it went offline.
    """

    kind: str
    char: str
    anchor: str = ""
    offline: bool = False
    base: int = 0


@dataclass(frozen=True)
class Submit(Message):
    """Editor -> server: the editor's edits number ``first``, ``first + 1``, ... (not yet settled)."""

    editor: int
    first: int
    ops: tuple[CentralOp, ...]


@dataclass(frozen=True)
class ServerState(Message):
    """Server -> editor: the document at ``version`` (every character, and which are shown), and how many
    of this editor's edits are settled."""

    version: int
    chars: str
    shown: bytes
    settled: int


@dataclass(frozen=True)
class Rejection:
    """One conflict a person must resolve: ``editor``'s offline edits ``first`` .. ``last`` were refused."""

    editor: int
    first: int
    last: int
    time_ms: float


class TombText:
    """A text that keeps its deleted characters (tombstones), so a late edit can still find its anchor.

    ``chars`` holds every character ever inserted, in order, and ``shown`` one byte per
    character (1 visible, 0 deleted).  Lookups are ``str.find`` and the visible text is
    one ``itertools.compress``: both run in C, which keeps a server shipping a long
    document every ``sync_ms`` cheap.
    """

    __slots__ = ("chars", "shown")

    def __init__(self, chars: str = "", shown: bytes | None = None) -> None:
        self.chars = chars
        self.shown = bytearray(b"\x01" * len(chars) if shown is None else shown)

    def copy(self) -> "TombText":
        """An independent copy."""
        return TombText(self.chars, self.shown)

    def apply(self, op: CentralOp) -> bool:
        """Apply ``op``; False if it names a character (its anchor, or what it deletes) not in the text."""
        if op.kind == "ins":
            if op.char in self.chars:
                return True  # already there
            at = self.chars.find(op.anchor) if op.anchor else -1
            if op.anchor and at < 0:
                return False
            self.chars = self.chars[:at + 1] + op.char + self.chars[at + 1:]
            self.shown[at + 1:at + 1] = b"\x01"
            return True
        at = self.chars.find(op.char)
        if at < 0:
            return False
        self.shown[at] = 0
        return True

    def text(self) -> str:
        """The visible text."""
        return "".join(compress(self.chars, self.shown))


class CentralServer(Node):
    """The one place edits are committed; refuses offline edits that raced someone else's."""

    def __init__(self, name: str, sim: Simulation, network: Network, base: str, editors: int,
                 sync_ms: float) -> None:
        self.doc = TombText(base)
        self.version = 0
        self.editors = editors
        self.sync_ms = sync_ms
        self.committed_by: list[int] = []  # version v was made by committed_by[v - 1]
        self.settled = [0] * editors  # per editor: edits accepted or refused so far
        self.rejections: list[Rejection] = []
        self.refused: set[tuple[int, int]] = set()  # (editor, edit number) refused
        self._snapshot: tuple[int, bytes] = (-1, b"")
        self.committed_at: dict[str, int] = {}  # inserted character -> the version that committed it
        super().__init__(name, sim, network)

    def start(self) -> None:
        """Begin the periodic state broadcast (it doubles as the heartbeat)."""
        self.set_timer(self.sync_ms, self._tick)

    def on_restart(self) -> None:
        """Back from a crash: the document was kept (on disk); the broadcast resumes."""
        self.set_timer(self.sync_ms, self._tick)

    def _tick(self) -> None:
        if self._snapshot[0] != self.version:
            self._snapshot = (self.version, bytes(self.doc.shown))
        for e in range(self.editors):
            self.send(f"e{e}", ServerState(self.version, self.doc.chars, self._snapshot[1], self.settled[e]))
        self.set_timer(self.sync_ms, self._tick)

    def text(self) -> str:
        """The authoritative text."""
        return self.doc.text()

    def on_Submit(self, msg: Submit, src: str) -> None:
        """Commit the editor's new edits in order; refuse a run of offline edits that raced another editor."""
        e = msg.editor
        refusing = None  # first edit number of the run being refused
        for k, op in enumerate(msg.ops):
            number = msg.first + k
            if number <= self.settled[e]:
                continue  # a resend of something already decided
            if refusing is not None:
                # A run of refused offline edits ends at the first online edit that applies;
                # an edit typed after a refused character (its anchor unknown here) goes with the run.
                if not op.offline and self.doc.apply(op):
                    self._refuse(e, refusing, number - 1)
                    refusing = None
                    self._commit(e, op)
                else:
                    self.refused.add((e, number))
            else:
                raced = op.offline and any(by != e for by in self.committed_by[op.base:])
                if not raced and self.doc.apply(op):
                    self._commit(e, op)
                else:
                    refusing = number
                    self.refused.add((e, number))
            self.settled[e] = number
        if refusing is not None:
            self._refuse(e, refusing, self.settled[e])

    def _commit(self, editor: int, op: CentralOp) -> None:
        self.version += 1
        self.committed_by.append(editor)
        if op.kind == "ins":
            self.committed_at.setdefault(op.char, self.version)

    def _refuse(self, editor: int, first: int, last: int) -> None:
        # A run refused across two submits (the second carrying edits typed later) is one conflict.
        for i in range(len(self.rejections) - 1, -1, -1):
            r = self.rejections[i]
            if r.editor == editor:
                if r.last == first - 1:
                    self.rejections[i] = Rejection(editor, r.first, last, r.time_ms)
                    return
                break
        self.rejections.append(Rejection(editor, first, last, self.sim.now))


class CentralEditor(EditorNode):
    """An editor of the central service: shows the server's document plus its own unsettled edits."""

    def __init__(self, name: str, sim: Simulation, network: Network, index: int, base: str,
                 keystrokes: tuple[Keystroke, ...], sync_ms: float, offline_after_ms: float) -> None:
        self.offline_after_ms = offline_after_ms
        self.server_doc = TombText(base)
        self.version = 0
        self.settled_upto = 0
        self.ops: list[CentralOp] = []  # every edit I made, numbered from 1
        self.last_heard = 0.0
        self._offline_base: int | None = None
        self._view = self.server_doc.copy()
        self._text = base
        self.offline_episodes = 0
        self.received: list[tuple[int, float]] = []  # (version, time) of each newer server state
        super().__init__(name, sim, network, index, base, keystrokes, sync_ms)

    def offline_now(self) -> bool:
        """The editor shows "offline" once the server has been silent for ``offline_after_ms``."""
        return self.sim.now - self.last_heard > self.offline_after_ms

    def text(self) -> str:
        """The server's document with my unsettled edits on top."""
        return self._text

    def _add(self, op: CentralOp) -> None:
        self.ops.append(op)
        self._view.apply(op)
        self._text = self._view.text()

    def _stamp(self) -> tuple[bool, int]:
        if self.offline_now():
            if self._offline_base is None:
                self._offline_base = self.version
                self.offline_episodes += 1
            return True, self._offline_base
        return False, 0

    def local_insert(self, index: int, ch: str) -> None:
        """Insert after the character before ``index``; queue it for the server."""
        offline, base = self._stamp()
        anchor = self._text[index - 1] if index > 0 else ""
        self._add(CentralOp("ins", ch, anchor, offline, base))

    def local_delete(self, index: int) -> None:
        """Delete the character at ``index``; queue it for the server."""
        offline, base = self._stamp()
        self._add(CentralOp("del", self._text[index], "", offline, base))

    def sync(self) -> None:
        """Send the unsettled edits (sent even when offline: the editor cannot know the link is back)."""
        if len(self.ops) > self.settled_upto:
            self.send("server", Submit(self.index, self.settled_upto + 1, tuple(self.ops[self.settled_upto:])))

    def settled(self) -> bool:
        """Every edit of mine accepted or refused by the server."""
        return self.settled_upto == len(self.ops)

    def on_ServerState(self, msg: ServerState, src: str) -> None:
        """Take the server's newer document; drop settled edits; back online."""
        self.last_heard = self.sim.now
        if msg.version < self.version or (msg.version == self.version and msg.settled <= self.settled_upto):
            return
        self.version = msg.version
        self.settled_upto = max(self.settled_upto, msg.settled)
        self.server_doc = TombText(msg.chars, msg.shown)
        self.received.append((msg.version, self.sim.now))
        self._view = self.server_doc.copy()
        for op in self.ops[self.settled_upto:]:
            self._view.apply(op)
        self._text = self._view.text()
        if self.settled_upto == len(self.ops) or not any(op.offline for op in self.ops[self.settled_upto:]):
            self._offline_base = None

    def note_first_seen(self, committed_at: dict[str, int]) -> None:
        """Fill ``first_seen`` after the run: a character was seen when a version holding it first arrived.

        Cheaper than comparing the whole document on every state message: versions only grow.
        """
        versions = [v for v, _ in self.received]
        for ch, v in committed_at.items():
            k = bisect_left(versions, v)
            if k < len(versions) and ch not in self.first_seen:
                self.first_seen[ch] = self.received[k][1]
