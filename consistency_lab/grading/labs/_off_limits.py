"""Does a student's class lean on the course's own ready-made answer?  (Used by hidden checks.)

The course toolkit ships with the labs (``consistency_lab.crdt``, ``patterns.idempotency``):
chapters use it, and a lab that asks for a PN-Counter must not be solved by wrapping the
package's PN-Counter.  :func:`borrowed_from` looks at what a class or function actually
reaches: its base classes, the globals and imports its code names (nested functions
included), and the attributes of a fresh instance.
"""

from __future__ import annotations

import inspect
import types
from typing import Any, Callable, Iterable, Iterator, Optional

__all__ = ["borrowed_from", "assert_own_work"]


def _codes(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _codes(const)


def _functions(obj: Any) -> Iterator[types.FunctionType]:
    """Every plain function of ``obj``: itself, or a class's methods, properties, static and class methods."""
    if isinstance(obj, types.FunctionType):
        yield obj
        return
    for value in vars(obj).values() if inspect.isclass(obj) else ():
        for candidate in (value, getattr(value, "__func__", None), getattr(value, "fget", None),
                          getattr(value, "fset", None)):
            if isinstance(candidate, types.FunctionType):
                yield candidate


def _module_of(value: Any) -> str:
    if inspect.ismodule(value):
        return value.__name__
    if inspect.isclass(value) or callable(value):
        return getattr(value, "__module__", "") or ""
    return type(value).__module__


def _off(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def borrowed_from(obj: Any, prefixes: Iterable[str], make: Optional[Callable[[], Any]] = None) -> list[str]:
    """What ``obj`` (a class or function) takes from modules named by ``prefixes``, one phrase each.

    With ``make``, a fresh instance is built and its attributes are looked at too.
    """
    prefixes = tuple(prefixes)
    found: list[str] = []
    if inspect.isclass(obj):
        found += [f"it inherits from {b.__module__}.{b.__qualname__}" for b in obj.__mro__[1:]
                  if _off(b.__module__, prefixes)]
    for fn in _functions(obj):
        for code in _codes(fn.__code__):
            for name in code.co_names:
                if _off(name, prefixes):  # an import statement inside the function
                    found.append(f"{fn.__qualname__} imports {name}")
                elif name in fn.__globals__ and _off(_module_of(fn.__globals__[name]), prefixes):
                    found.append(f"{fn.__qualname__} uses {name} from {_module_of(fn.__globals__[name])}")
            found += [f"{fn.__qualname__} names {c!r}" for c in code.co_consts
                      if isinstance(c, str) and any(p in c for p in prefixes)]
    if make is not None:
        try:
            instance = make()
        except Exception:  # noqa: BLE001 - a broken constructor is the other checks' business
            instance = None
        for attr, value in sorted(vars(instance).items()) if hasattr(instance, "__dict__") else ():
            values = list(value.values()) if isinstance(value, dict) else \
                list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
            for v in values:
                if _off(_module_of(v), prefixes) and not inspect.isclass(v):
                    found.append(f"its attribute {attr} holds a {type(v).__module__}.{type(v).__qualname__}")
                    break
    return list(dict.fromkeys(found))


def assert_own_work(ns: Any, names: Iterable[str], prefixes: Iterable[str], what: str,
                    make: Optional[Callable[[Any], Any]] = None) -> None:
    """Fail when any of the student's ``names`` (classes or functions) leans on modules named by ``prefixes``."""
    prefixes = tuple(prefixes)
    for name in names:
        obj = ns[name]
        found = borrowed_from(obj, prefixes, (lambda: make(obj)) if make is not None and inspect.isclass(obj)
                              else None)
        assert not found, f"`{name}` uses the course's own {what} ({'; '.join(found[:2])}): this part asks you " \
                          "to build it yourself, so the package's ready-made version is off limits"
