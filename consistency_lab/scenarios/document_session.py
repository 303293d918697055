"""One editing session, drawn once and replayed on every strategy of the ``document`` scenario.

A session is what the people at the keyboards *intend*: at which virtual times each
editor presses a key, which key (type a character, backspace, move the cursor), and
when each editor's connection is cut.  It holds no positions in any document: a
keystroke acts at the editor's own cursor in whatever text that editor sees at that
moment, so the same session is meaningful for a CRDT, for last-writer-wins and for a
central server, and strategies are compared on identical intentions.

Every character typed in a session is a distinct code point (from the CJK block, one
UTF-16 unit and one Python character each), so a character *is* its identity: "is
the character editor 1 typed at 3.2 s in the final text?" is ``ch in text``.
:func:`display` turns such a text into something readable (``A`` for editor 0's
characters, ``B`` for editor 1's, ``C`` for editor 2's, the starting sentence as itself).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..faults import Partition

__all__ = ["Keystroke", "Session", "draw_session", "display", "editor_name", "SERVER",
           "BASE_SENTENCE", "FIRST_CHAR"]

#: The first code point used for characters (the CJK block has 20,992 from here on).
FIRST_CHAR = 0x4E00
#: What every replica starts with (shown as itself by :func:`display`).
BASE_SENTENCE = "the shared draft starts with this sentence. "
#: The central strategy's server node; it is never cut off (the editors are).
SERVER = "server"
_EDITOR_LETTERS = "ABC"


def editor_name(i: int) -> str:
    """The node name of editor ``i`` (``e0``, ``e1``, ``e2``)."""
    return f"e{i}"


@dataclass(frozen=True)
class Keystroke:
    """One key an editor presses: ``type`` a character, ``delete`` (backspace) or ``jump`` the cursor.

    ``where`` (jump only) is the cursor's new place as a share of the editor's text
    length, 0 = start, 1 = end; ``char`` (type only) is the new character's identity.
    """

    time_ms: float
    editor: int
    kind: str
    where: float = 0.0
    char: str = ""


@dataclass(frozen=True)
class Session:
    """Who types what and when, the starting text, and each editor's cut-off windows."""

    editors: int
    duration_ms: float
    base: str
    keystrokes: tuple[Keystroke, ...]
    cuts: tuple[Partition, ...]

    def authors(self) -> dict[str, int]:
        """Typed character -> the editor who typed it (base characters are not listed)."""
        return {k.char: k.editor for k in self.keystrokes if k.kind == "type"}

    def typed(self, editor: int) -> int:
        """How many characters editor ``editor`` types in this session."""
        return sum(1 for k in self.keystrokes if k.editor == editor and k.kind == "type")


def draw_session(rng: random.Random, *, editors: int, duration_ms: float, keys_per_s: float,
                 delete_share: float, jump_share: float, base_chars: int,
                 partitions_per_min: float, partition_ms: float) -> Session:
    """Draw one session: Poisson keystrokes per editor, and Poisson cut-off windows per editor.

    ``rng`` must be a stream used for nothing else (``sim.rng("session")``), so the
    same seed gives the same session for every strategy.  Each editor's cut-offs
    arrive at ``partitions_per_min`` and last an exponential time with mean
    ``partition_ms``; a cut isolates that editor from everyone else (other editors and
    the server).
    """
    base = _base_text(base_chars)
    keys: list[Keystroke] = []
    next_char = FIRST_CHAR + len(base)
    key_rate, cut_rate = keys_per_s / 1000.0, partitions_per_min / 60_000.0  # per ms (0 for tiny rates)
    for e in range(editors):
        t = 0.0
        while key_rate > 0:
            t += rng.expovariate(key_rate)
            if t >= duration_ms:
                break
            r = rng.random()
            if r < jump_share:
                keys.append(Keystroke(t, e, "jump", where=rng.random()))
            elif r < jump_share + delete_share:
                keys.append(Keystroke(t, e, "delete"))
            else:
                keys.append(Keystroke(t, e, "type", char=chr(next_char)))
                next_char += 1
    # Typed characters are numbered editor by editor; the global order is by time (editor breaks ties).
    keys.sort(key=lambda k: (k.time_ms, k.editor))
    names = [editor_name(e) for e in range(editors)]
    cuts = []
    for e in range(editors):
        t = 0.0
        while cut_rate > 0:
            t += rng.expovariate(cut_rate)
            if t >= duration_ms:
                break
            length = rng.expovariate(1.0 / partition_ms) if partition_ms > 0 else 0.0
            if length > 0:
                others = tuple(n for n in names if n != names[e]) + (SERVER,)
                cuts.append(Partition(((names[e],), others), start=t, end=t + length))
    return Session(editors, duration_ms, base, tuple(keys), tuple(cuts))


def _base_text(n: int) -> str:
    """``n`` characters of starting text, each a distinct code point (shown by :func:`display`)."""
    return "".join(chr(FIRST_CHAR + i) for i in range(n))


def display(text: str, session: Session) -> str:
    """A readable form of ``text``: the starting sentence as itself, editor k's characters as A, B or C."""
    base_at = {ch: i for i, ch in enumerate(session.base)}
    authors = session.authors()
    out = []
    for ch in text:
        if ch in base_at:
            out.append(BASE_SENTENCE[base_at[ch] % len(BASE_SENTENCE)])
        elif ch in authors:
            out.append(_EDITOR_LETTERS[authors[ch]])
        else:
            out.append("?")
    return "".join(out)
