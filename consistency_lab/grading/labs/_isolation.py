"""Check a later part on its own: the student's class on top of another base than the student's.

A lab part that subclasses an earlier part (lab 02's ``MeteredJob(PagedJob)``, lab 01's
``CrashSafeHandler(VersionedHandler)``) inherits that part's bugs.  :func:`rebased` makes a
copy of the student's class whose base is swapped (its ``super()`` and the base's name in its
code point at the new base), so a check can run the later part alone; :func:`earlier_part_note`
words the feedback when the student's own earlier part is what breaks the later one.
"""

from __future__ import annotations

import types
from typing import Any, Callable, Optional

__all__ = ["rebased", "earlier_part_note"]


def _refit(fn: types.FunctionType, old: type, new: type, base_name: str, new_base: type,
           globals_: dict) -> types.FunctionType:
    """A copy of ``fn`` whose ``__class__`` cell holds ``new`` and whose globals see ``new_base``."""
    cells = None
    if fn.__closure__:
        cells = tuple(types.CellType(new) if c.cell_contents is old else c for c in fn.__closure__)
    out = types.FunctionType(fn.__code__, globals_, fn.__name__, fn.__defaults__, cells)
    out.__kwdefaults__, out.__qualname__, out.__doc__ = fn.__kwdefaults__, fn.__qualname__, fn.__doc__
    return out


def rebased(cls: type, base_name: str, new_base: type) -> type:
    """A copy of ``cls`` with its ancestor class called ``base_name`` replaced by ``new_base``.

    Classes between ``cls`` and that ancestor are copied the same way; a class without such an
    ancestor is returned as it is.
    """
    fns = [v for v in vars(cls).values() if isinstance(v, types.FunctionType)]
    named = fns[0].__globals__.get(base_name) if fns else None  # what the notebook calls base_name
    target = next((b for b in cls.__mro__[1:] if b is named or b.__name__ == base_name), None)
    if target is None:  # not built on the earlier part at all: check the class as it is
        return cls
    return _rebased(cls, target, base_name, new_base)


def _rebased(cls: type, target: type, base_name: str, new_base: type) -> type:
    bases = tuple(new_base if b is target else _rebased(b, target, base_name, new_base) if target in b.__mro__
                  else b for b in cls.__bases__)
    body = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
    new = type(cls.__name__, bases, body)
    fns = [v for v in body.values() if isinstance(v, types.FunctionType)]
    globals_ = dict(fns[0].__globals__) if fns else {}
    globals_[base_name] = new_base
    for key, value in body.items():
        if isinstance(value, types.FunctionType):
            setattr(new, key, _refit(value, cls, new, base_name, new_base, globals_))
        elif isinstance(value, (staticmethod, classmethod)) and isinstance(value.__func__, types.FunctionType):
            setattr(new, key, type(value)(_refit(value.__func__, cls, new, base_name, new_base, globals_)))
    return new


def earlier_part_note(run_own: Callable[[], Any], part: str, what: str) -> Optional[str]:
    """After the isolated run passed: None when ``run_own()`` passes too, else the note for the feedback."""
    try:
        run_own()
    except Exception as exc:  # noqa: BLE001 - any failure of the student's own combination is reported
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:160]
        return (f"this part is right, but it also fails with your {part} ({what}), which has a bug: see {part} "
                f"({type(exc).__name__}: {first})")
    return None
