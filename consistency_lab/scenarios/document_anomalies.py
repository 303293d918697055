"""What a person would file a support ticket about, counted on one editing session (pure functions).

The yardstick is each editor's own edit log (:class:`~.document_editors.Edit`): what
the person did and saw on their screen.  Against the converged text:

* a **lost edit** is an edit whose effect is missing and nobody was told: a typed
  character that no accepted delete removed but that is not in the converged text,
  or a deleted character that is back in it;
* a **silent overwrite** is one incident of lost edits: a maximal run of one editor's
  consecutive edits that were all lost (a save that another save replaced, say);
  one incident is one "my paragraph vanished" ticket, however many keys it held;
* a **conflict to resolve** is one run of edits the service refused, with a message
  to the person (the central strategy's offline edits that raced someone else's);
* a **merge spot** is a place in the converged text where characters of two editors
  sit side by side although each was typed before its author had seen the other's:
  two people wrote into the same spot at once, both kept, in an order neither chose.
  Nothing is lost, but a person may need to read it again ("our sentences are jumbled");
* an **orphan** is a run of kept characters typed into text that another editor deleted
  meanwhile without having seen them: the delete and the typing both "won", so words
  survive inside a passage someone removed ("I deleted that paragraph and bits came back").

A **ticket** is a silent overwrite, a conflict, a merge spot or an orphan run;
``strict_tickets`` counts only silent overwrites and conflicts (lost work and refused
work, the two kinds the article names).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from .document_editors import Edit

__all__ = ["Anomalies", "count_anomalies", "edit_status"]


@dataclass(frozen=True)
class Anomalies:
    """The user-visible anomalies of one session, by kind (see the module docstring)."""

    lost_edits: int
    lost_chars: int
    revived_chars: int
    silent_overwrites: int
    conflicts: int
    refused_edits: int
    merge_spots: int
    orphans: int

    @property
    def tickets(self) -> int:
        """Silent overwrites + conflicts + merge spots + orphans: every incident a person may complain about."""
        return self.silent_overwrites + self.conflicts + self.merge_spots + self.orphans

    @property
    def strict_tickets(self) -> int:
        """Silent overwrites + conflicts: lost work and refused work only."""
        return self.silent_overwrites + self.conflicts

    def as_dict(self) -> dict:
        """Every count by name, with both ticket totals."""
        return {"lost_edits": self.lost_edits, "lost_chars": self.lost_chars, "revived_chars": self.revived_chars,
                "silent_overwrites": self.silent_overwrites, "conflicts": self.conflicts,
                "refused_edits": self.refused_edits, "merge_spots": self.merge_spots, "orphans": self.orphans,
                "tickets": self.tickets, "strict_tickets": self.strict_tickets}


def edit_status(edits: Sequence[Edit], refused: Iterable[tuple[int, int]], final: str) -> list[str]:
    """Each edit's fate, in order: ``ok``, ``lost`` (effect missing, nobody told) or ``refused``.

    ``refused`` holds (editor, edit number counted from 1 in that editor's own log).
    """
    refused = set(refused)
    number: dict[int, int] = {}
    numbered = []
    for ed in edits:
        number[ed.editor] = number.get(ed.editor, 0) + 1
        numbered.append((ed, (ed.editor, number[ed.editor]) in refused))
    in_final = set(final)
    deleted = {ed.char for ed, no in numbered if ed.kind == "del" and not no}
    out = []
    for ed, no in numbered:
        if no:
            out.append("refused")
        elif ed.kind == "ins":
            out.append("lost" if ed.char not in in_final and ed.char not in deleted else "ok")
        else:
            out.append("lost" if ed.char in in_final else "ok")
    return out


def _runs(flags: Iterable[bool]) -> int:
    """How many maximal runs of True ``flags`` holds."""
    runs, prev = 0, False
    for f in flags:
        runs += f and not prev
        prev = f
    return runs


def count_anomalies(edits: Sequence[Edit], final: str, authors: Mapping[str, int],
                    first_seen: Sequence[Mapping[str, float]],
                    refused: Iterable[tuple[int, int]] = (), conflicts: int = 0) -> Anomalies:
    """Count one session's anomalies against the converged text ``final``.

    ``edits``: every editor's edits (any order across editors, each editor's in its own
    order); ``authors``: typed character -> editor; ``first_seen[e]``: character -> the
    virtual time it first appeared in editor e's text; ``refused`` and ``conflicts``:
    the central service's refused edits and how many refusals (runs) it made.
    """
    edits = list(edits)
    status = edit_status(edits, refused, final)
    lost_chars = sum(1 for ed, s in zip(edits, status) if s == "lost" and ed.kind == "ins")
    revived = sum(1 for ed, s in zip(edits, status) if s == "lost" and ed.kind == "del")
    overwrites = 0
    for e in sorted({ed.editor for ed in edits}):
        overwrites += _runs(s == "lost" for ed, s in zip(edits, status) if ed.editor == e)
    spots = 0
    for a, b in zip(final, final[1:]):
        ea, eb = authors.get(a, -1), authors.get(b, -1)
        if ea < 0 or eb < 0 or ea == eb:
            continue
        ta, tb = first_seen[ea].get(a, math.inf), first_seen[eb].get(b, math.inf)
        if first_seen[eb].get(a, math.inf) > tb and first_seen[ea].get(b, math.inf) > ta:
            spots += 1
    return Anomalies(lost_edits=lost_chars + revived, lost_chars=lost_chars, revived_chars=revived,
                     silent_overwrites=overwrites, conflicts=conflicts,
                     refused_edits=sum(1 for s in status if s == "refused"), merge_spots=spots,
                     orphans=_orphan_runs(edits, status, final, first_seen))


def _orphan_runs(edits: Sequence[Edit], status: Sequence[str], final: str,
                 first_seen: Sequence[Mapping[str, float]]) -> int:
    """Runs of kept characters typed right after a character another editor deleted without seeing them."""
    deleted_at = {}  # character -> (editor, time) of its accepted delete
    for ed, s in zip(edits, status):
        if ed.kind == "del" and s == "ok":
            deleted_at.setdefault(ed.char, (ed.editor, ed.time_ms))
    orphan = set()
    for ed, s in zip(edits, status):
        if ed.kind != "ins" or s != "ok" or ed.anchor not in deleted_at:
            continue
        by, when = deleted_at[ed.anchor]
        if by != ed.editor and first_seen[by].get(ed.char, math.inf) > when:
            orphan.add(ed.char)
    # The rest of such a run was typed after the orphan itself, so only its first character is
    # marked; neighbouring marks (typed at the same deleted spot) are one incident.
    return _runs(ch in orphan for ch in final)
