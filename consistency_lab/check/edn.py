"""A small EDN reader: the subset Jepsen histories use.

Supported: maps ``{}``, vectors ``[]`` and lists ``()`` (both read as tuples),
sets ``#{}`` (frozenset), keywords (:kw, read as :class:`Keyword`, a ``str``
without the colon), symbols (:class:`Symbol`), ``nil``/``true``/``false``,
integers (optional ``N``), floats (optional ``M``), strings with the usual
escapes, characters (``\\a``, ``\\newline``), ``;`` comments, commas as
whitespace, ``#_`` discard, and tagged literals ``#tag form`` (the tag is dropped,
the form kept).  The parser is iterative, so deep nesting cannot overflow the
Python stack.
"""

from __future__ import annotations

import re
from typing import Any


class Keyword(str):
    """An EDN keyword such as ``:read`` (stored without the colon; equal to ``"read"``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return ":" + str.__str__(self)


class Symbol(str):
    """An EDN symbol (kept as text)."""

    __slots__ = ()


class EdnError(ValueError):
    """Unreadable EDN; ``line`` is 1-based."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


_WS = " \t\r\n,"
_DELIMS = set(_WS) | set("{}[]()\";")
_INT = re.compile(r"[+-]?\d+N?\Z")
_FLOAT = re.compile(r"[+-]?\d+(\.\d*)?([eE][+-]?\d+)?M?\Z")
_CHAR_NAMES = {"newline": "\n", "space": " ", "tab": "\t", "return": "\r",
               "backspace": "\b", "formfeed": "\f"}
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_CLOSER = {"{": "}", "[": "]", "(": ")", "#{": "}"}


class _Frame:
    __slots__ = ("opener", "line", "items", "lines", "discard")

    def __init__(self, opener: str, line: int) -> None:
        self.opener = opener
        self.line = line
        self.items: list[Any] = []
        self.lines: list[int] = []
        self.discard = 0


def read_edn_forms(text: str, unwrap: bool = False) -> list[tuple[Any, int]]:
    """All top-level forms in ``text`` as (value, 1-based start line) pairs.

    With ``unwrap``, a text holding exactly one vector or list gives that
    collection's items instead (with their own lines).
    """
    top = _Frame("", 1)
    top_level_lines: list[list[int]] = []
    stack: list[_Frame] = [top]
    pos, line, n = 0, 1, len(text)

    def emit(value: Any, at: int) -> None:
        frame = stack[-1]
        if frame.discard:
            frame.discard -= 1
            return
        frame.items.append(value)
        frame.lines.append(at)

    while True:
        # Skip whitespace and comments.
        while pos < n:
            ch = text[pos]
            if ch == "\n":
                line += 1
                pos += 1
            elif ch in _WS:
                pos += 1
            elif ch == ";":
                while pos < n and text[pos] != "\n":
                    pos += 1
            else:
                break
        if pos >= n:
            break
        ch = text[pos]
        start_line = line
        if ch in "{[(":
            stack.append(_Frame(ch, line))
            pos += 1
        elif ch == "#" and text.startswith("#{", pos):
            stack.append(_Frame("#{", line))
            pos += 2
        elif ch == "#" and text.startswith("#_", pos):
            stack[-1].discard += 1
            pos += 2
        elif ch == "#":
            # Tagged literal: drop the tag, keep the following form.
            end = pos + 1
            while end < n and text[end] not in _DELIMS:
                end += 1
            if end == pos + 1:
                raise EdnError(line, f"unexpected character {text[pos:pos + 2]!r} after '#'")
            pos = end
        elif ch in "}])":
            frame = stack[-1]
            if frame is top:
                raise EdnError(line, f"unmatched closing {ch!r}")
            if _CLOSER[frame.opener] != ch:
                raise EdnError(
                    line,
                    f"expected {_CLOSER[frame.opener]!r} to close {frame.opener!r} "
                    f"opened on line {frame.line}, found {ch!r}",
                )
            if frame.discard:
                raise EdnError(line, "#_ with no form to discard")
            stack.pop()
            pos += 1
            if stack[-1] is top and frame.opener in "[(" and not top.discard:
                top_level_lines.append(frame.lines)
            emit(_build(frame), frame.line)
        elif ch == '"':
            value, pos, line = _read_string(text, pos, line)
            emit(value, start_line)
        elif ch == "\\":
            end = pos + 2
            while end < n and text[end] not in _DELIMS:
                end += 1
            name = text[pos + 1 : end]
            if len(name) == 1:
                emit(name, line)
            elif name in _CHAR_NAMES:
                emit(_CHAR_NAMES[name], line)
            elif name.startswith("u") and len(name) == 5:
                emit(chr(int(name[1:], 16)), line)
            else:
                raise EdnError(line, f"unknown character literal \\{name}")
            pos = end
        else:
            end = pos
            while end < n and text[end] not in _DELIMS:
                end += 1
            emit(_atom(text[pos:end], line), line)
            pos = end
    if len(stack) > 1:
        frame = stack[-1]
        raise EdnError(frame.line, f"{frame.opener!r} opened here is never closed")
    if top.discard:
        raise EdnError(line, "#_ with no form to discard")
    if unwrap and len(top.items) == 1 and len(top_level_lines) == 1:
        return list(zip(top.items[0], top_level_lines[0], strict=True))
    return list(zip(top.items, top.lines, strict=True))


def _build(frame: _Frame) -> Any:
    items = frame.items
    if frame.opener == "{":
        if len(items) % 2:
            raise EdnError(frame.line, "map literal has an odd number of forms")
        out = {}
        for k, v in zip(items[::2], items[1::2], strict=True):
            try:
                out[k] = v
            except TypeError:
                raise EdnError(frame.line, f"map key {k!r} is not hashable") from None
        return out
    if frame.opener == "#{":
        try:
            return frozenset(items)
        except TypeError:
            raise EdnError(frame.line, "set element is not hashable") from None
    return tuple(items)


def _read_string(text: str, pos: int, line: int) -> tuple[str, int, int]:
    start_line = line
    out = []
    pos += 1
    n = len(text)
    while pos < n:
        ch = text[pos]
        if ch == '"':
            return "".join(out), pos + 1, line
        if ch == "\\":
            if pos + 1 >= n:
                break
            esc = text[pos + 1]
            if esc in _ESCAPES:
                out.append(_ESCAPES[esc])
                pos += 2
            elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[pos + 2 : pos + 6]):
                out.append(chr(int(text[pos + 2 : pos + 6], 16)))
                pos += 6
            else:
                raise EdnError(line, f"unknown string escape \\{esc}")
            continue
        if ch == "\n":
            line += 1
        out.append(ch)
        pos += 1
    raise EdnError(start_line, "string opened here is never closed")


def _atom(token: str, line: int) -> Any:
    if token == "nil":
        return None
    if token == "true":
        return True
    if token == "false":
        return False
    if token.startswith(":"):
        if len(token) == 1:
            raise EdnError(line, "empty keyword ':'")
        return Keyword(token[1:])
    if _INT.match(token):
        return int(token.rstrip("N"))
    if _FLOAT.match(token):
        return float(token.rstrip("M"))
    if token[0].isdigit() or (token[0] in "+-" and len(token) > 1 and token[1].isdigit()):
        raise EdnError(line, f"malformed number {token!r}")
    return Symbol(token)
