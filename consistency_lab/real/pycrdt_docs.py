"""A real CRDT beside the course's own: one editor's text as a pycrdt (Yrs, the Rust port of Yjs) document.

pycrdt is what JupyterLab's real-time collaboration runs on.  Here each simulated
editor holds a :class:`PycrdtText`: a ``pycrdt.Doc`` with one ``Text`` called
``"text"``.  A local edit returns the *update* it produced (the bytes Yjs would send
to a peer); a peer applies those bytes with :meth:`PycrdtText.apply`.  The bytes
travel as ordinary messages over the simulated network, so the real CRDT meets the
same losses, duplicates, reorderings and partitions as the course's RGA.

Indices: pycrdt 0.14 hands Python indices to Yrs, which counts UTF-8 bytes (pycrdt
pull request 379 is still open), so an index past a non-ASCII character lands in the
wrong place.  This bridge converts character indices to byte offsets itself, so callers
use ordinary character indices.
"""

from __future__ import annotations

from typing import Optional

from ..validation import count

__all__ = ["PycrdtText"]

TEXT_NAME = "text"


class PycrdtText:
    """One replica of a shared text in a ``pycrdt.Doc``; local edits return their update bytes."""

    def __init__(self, client_id: int, initial: Optional[bytes] = None) -> None:
        from pycrdt import Doc, Text
        count("client_id", client_id, low=1)
        # A fixed client id: Yjs breaks ties between concurrent inserts by client id, so a
        # random one (pycrdt's default) would make runs differ from process to process.
        self.doc = Doc(client_id=client_id)
        self._text = self.doc.get(TEXT_NAME, type=Text)
        self.client_id = client_id
        if initial is not None:
            self.apply(initial)

    @staticmethod
    def starting_update(text: str, client_id: int) -> bytes:
        """The update that creates ``text`` in an empty document (written by ``client_id``)."""
        author = PycrdtText(client_id)
        return author.insert(0, text) if text else author.doc.get_update()

    def _offset(self, index: int) -> int:
        """UTF-8 byte offset of character ``index`` (see the module note on pycrdt's indices)."""
        return len(str(self._text)[:index].encode("utf-8"))

    def insert(self, index: int, chars: str) -> bytes:
        """Insert ``chars`` before character ``index``; return the update to send to peers."""
        current = str(self._text)
        count("index", index, low=0, high=len(current))
        before = self.doc.get_state()
        self._text.insert(self._offset(index), chars)
        return self.doc.get_update(before)

    def delete(self, index: int) -> bytes:
        """Delete character ``index``; return the update to send to peers."""
        current = str(self._text)
        count("index", index, low=0, high=len(current) - 1)
        before = self.doc.get_state()
        start = self._offset(index)
        del self._text[start:start + len(current[index].encode("utf-8"))]
        return self.doc.get_update(before)

    def apply(self, update: bytes) -> None:
        """Apply a peer's update (idempotent; Yjs holds back one whose causes are missing)."""
        self.doc.apply_update(update)

    def text(self) -> str:
        """The text as this replica sees it now."""
        return str(self._text)

    def state_vector(self) -> bytes:
        """This replica's state vector: what it has seen, per client."""
        return self.doc.get_state()

    def update_since(self, state_vector: bytes) -> bytes:
        """Everything this replica has that a peer with ``state_vector`` lacks."""
        return self.doc.get_update(state_vector)
