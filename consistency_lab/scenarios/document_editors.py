"""The people at the keyboards: an editor node that replays its keystrokes on whatever text it holds.

Every strategy of the ``document`` scenario gives each editor a node; what differs is
how that node keeps and ships its text (:mod:`.document_crdt`, :mod:`.document_lww`,
:mod:`.document_central`).  This base class owns what they share:

* the cursor, anchored to the character before it (so a remote insert elsewhere does
  not move it), with the last index as a fallback when that character vanishes;
* the edit log: every insert and delete the editor made, at what time, on which
  character -- the yardstick the anomaly counts compare the converged text with;
* ``first_seen``: when each character first appeared in this editor's text, which
  says whether two edits were concurrent (neither author had seen the other's).
"""

from __future__ import annotations

from dataclasses import dataclass
from ..network import Network
from ..node import Node
from ..sim import Simulation
from .document_session import Keystroke

__all__ = ["Edit", "EditorNode"]


@dataclass(frozen=True)
class Edit:
    """One edit an editor made locally: ``ins`` or ``del`` of character ``char`` at ``time_ms``.

    ``offline`` is set (central strategy only) when the editor knew it was cut off
    from the server as it typed; ``anchor`` (inserts) is the character the editor saw
    just before the cursor ("" at the start).
    """

    time_ms: float
    editor: int
    kind: str
    char: str
    offline: bool = False
    anchor: str = ""


class EditorNode(Node):
    """One editor: presses its session's keys at their times on its local text; subclasses sync it."""

    def __init__(self, name: str, sim: Simulation, network: Network, index: int, base: str,
                 keystrokes: tuple[Keystroke, ...], sync_ms: float) -> None:
        self.index = index
        self.keystrokes = keystrokes
        self.sync_ms = sync_ms
        self.edits: list[Edit] = []
        self.first_seen: dict[str, float] = {ch: 0.0 for ch in base}
        self._anchor = base[-1] if base else ""  # the cursor starts at the end of the starting text
        self._cursor = len(base)
        self.snapshots: list[tuple[float, str]] = []
        super().__init__(name, sim, network)

    # -- what subclasses provide --------------------------------------------------
    def text(self) -> str:
        """The text this editor sees now."""
        raise NotImplementedError

    def local_insert(self, index: int, ch: str) -> None:
        """Insert ``ch`` before ``index`` in the local text and queue whatever must be shipped."""
        raise NotImplementedError

    def local_delete(self, index: int) -> None:
        """Delete the character at ``index`` in the local text and queue whatever must be shipped."""
        raise NotImplementedError

    def sync(self) -> None:
        """Ship what peers (or the server) have not acknowledged; called every ``sync_ms``."""

    def settled(self) -> bool:
        """True when nothing of this editor's is waiting to be shipped or acknowledged."""
        return True

    def offline_now(self) -> bool:
        """Whether the editor's program tells the person it is offline (central strategy only)."""
        return False

    # -- running -----------------------------------------------------------------
    def start(self) -> None:
        """Schedule every keystroke and the periodic sync."""
        for k in self.keystrokes:
            self.sim.schedule(k.time_ms, self._press, k)
        self.set_timer(self.sync_ms, self._tick)

    def on_restart(self) -> None:
        """Back from a crash: the text was kept (on disk); syncing resumes."""
        self.set_timer(self.sync_ms, self._tick)

    def _tick(self) -> None:
        self.sync()
        self.set_timer(self.sync_ms, self._tick)

    def _where(self, text: str) -> int:
        """The cursor's index in ``text``: just after its anchor, or the last index if the anchor is gone."""
        if not self._anchor:
            return 0
        at = text.find(self._anchor)
        return at + 1 if at >= 0 else min(self._cursor, len(text))

    def _press(self, k: Keystroke) -> None:
        if not self.alive:
            return  # a crashed editor's program is not running: the keystroke goes nowhere
        text = self.text()
        i = self._where(text)
        if k.kind == "jump":
            i = min(len(text), round(k.where * len(text)))
        elif k.kind == "type":
            anchor = text[i - 1] if i > 0 else ""
            self.local_insert(i, k.char)
            self.first_seen[k.char] = self.sim.now
            self.edits.append(Edit(self.sim.now, self.index, "ins", k.char, self.offline_now(), anchor))
            i += 1
            text = self.text()
        elif k.kind == "delete" and i > 0:
            gone = text[i - 1]
            self.local_delete(i - 1)
            self.edits.append(Edit(self.sim.now, self.index, "del", gone, self.offline_now()))
            i -= 1
            text = self.text()
        self._cursor = i
        self._anchor = text[i - 1] if i > 0 else ""

    def observe(self, chars: str | None = None) -> None:
        """Note when newly arrived characters first appeared here (call after a remote change).

        ``chars``: the characters that arrived, when the caller knows them; otherwise the
        whole text is compared with what was seen before (a set difference, done in C).
        """
        now = self.sim.now
        seen = self.first_seen
        for ch in (chars if chars is not None else set(self.text()).difference(seen)):
            if ch not in seen:
                seen[ch] = now

    def snapshot(self) -> None:
        """Record (time, text) for the time scrubber."""
        self.snapshots.append((self.sim.now, self.text()))
