"""Last-writer-wins on the whole document: every save ships the full text with a timestamp.

An editor edits its local copy; every ``sync_ms`` with unsaved changes it *saves*:
stamps the whole text with (its clock, its index) and ships it to every peer until
acknowledged.  A replica that receives a save with a larger stamp than the version
it holds replaces its text with it -- including any keystrokes made since its own last
save -- and a save with a smaller stamp is ignored.  Nobody is told: whatever the
losing version had that the winner lacked is silently gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..network import Network
from ..node import Message
from ..sim import Simulation
from .document_editors import EditorNode
from .document_session import Keystroke

__all__ = ["LwwSave", "LwwAck", "LwwEditor"]


@dataclass(frozen=True)
class LwwSave(Message):
    """Editor -> peer: the whole text as saved at ``stamp`` = (time ms, editor index)."""

    stamp: tuple[float, int]
    text: str


@dataclass(frozen=True)
class LwwAck(Message):
    """Peer -> editor: the save with this stamp arrived."""

    stamp: tuple[float, int]


class LwwEditor(EditorNode):
    """An editor whose text is one last-writer-wins register holding the whole document."""

    def __init__(self, name: str, sim: Simulation, network: Network, index: int, base: str,
                 keystrokes: tuple[Keystroke, ...], sync_ms: float, editors: int) -> None:
        self._text = base
        self.stamp: tuple[float, int] = (0.0, -1)  # the starting text: older than any save
        self.dirty = False
        self.editors = editors
        self._save: LwwSave | None = None  # my latest save
        self._unacked: set[int] = set()  # peers that have not acknowledged it
        self.overwritten_by_remote = 0  # times a remote save replaced unsaved keystrokes here
        super().__init__(name, sim, network, index, base, keystrokes, sync_ms)

    def text(self) -> str:
        """The local copy."""
        return self._text

    def local_insert(self, index: int, ch: str) -> None:
        """Edit the local copy; the next sync saves it."""
        self._text = self._text[:index] + ch + self._text[index:]
        self.dirty = True

    def local_delete(self, index: int) -> None:
        """Edit the local copy; the next sync saves it."""
        self._text = self._text[:index] + self._text[index + 1:]
        self.dirty = True

    def sync(self) -> None:
        """Save if there are unsaved changes, then ship the latest save to peers that lack it."""
        if self.dirty:
            self.stamp = (self.sim.now, self.index)
            self._save = LwwSave(self.stamp, self._text)
            self._unacked = {p for p in range(self.editors) if p != self.index}
            self.dirty = False
        if self._save is not None:
            for peer in sorted(self._unacked):
                self.send(f"e{peer}", self._save)

    def settled(self) -> bool:
        """Nothing unsaved, and the latest save acknowledged by every peer."""
        return not self.dirty and not self._unacked

    def on_LwwSave(self, msg: LwwSave, src: str) -> None:
        """Adopt a newer save wholesale (unsaved local keystrokes go with it); acknowledge either way."""
        if msg.stamp > self.stamp:
            if self.dirty:
                self.overwritten_by_remote += 1
            self._text = msg.text
            self.stamp = msg.stamp
            self.dirty = False
            self.observe()
        self.send(src, LwwAck(msg.stamp))

    def on_LwwAck(self, msg: LwwAck, src: str) -> None:
        """A peer has my latest save (an ack of an older one does not count)."""
        if self._save is not None and msg.stamp == self._save.stamp:
            self._unacked.discard(int(src[1:]))
