"""The one place where arguments are checked, so every error reads the same way.

Each checker returns the value (converted where that is lossless, e.g. an int
to a float) or raises ``ValueError`` in the course's one form::

    loss='0.5' must be a probability between 0 and 1

Types are tested *before* values are compared: ``"5" >= 0`` would raise a
``TypeError`` deep inside a comparison, and a student should never see that.
``bool`` is refused wherever a number is expected (``True`` is an ``int`` in
Python, but ``loss=True`` is a mistake, not a probability).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Optional, TypeVar

__all__ = ["count", "probability", "number", "positive", "non_negative", "choice", "text",
           "boolean", "optional", "argparse_type", "format_bound"]

T = TypeVar("T")


def format_bound(x: float) -> str:
    """1000000 rather than 1e+06: bounds are read by people."""
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _unit(unit: str) -> str:
    return f" {unit}" if unit else ""


def count(name: str, value: Any, low: int = 1, high: Optional[int] = None, unit: str = "") -> int:
    """An integer in [low, high] (high=None: no upper bound)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"between {low} and {high}"
        raise ValueError(f"{name}={value!r} must be an integer {bound}{_unit(unit)}")
    return value


def probability(name: str, value: Any) -> float:
    """A number between 0 and 1, inclusive."""
    if not _is_number(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name}={value!r} must be a probability between 0 and 1")
    return float(value)


def number(name: str, value: Any, low: Optional[float] = None, high: Optional[float] = None,
           unit: str = "", *, allow_inf: bool = False) -> float:
    """A real number in [low, high]; NaN is refused, infinity only with ``allow_inf``."""
    ok = _is_number(value) and not math.isnan(value) and (allow_inf or not math.isinf(value))
    if ok and (low is not None and value < low or high is not None and value > high):
        ok = False
    if not ok:
        finite = "" if allow_inf else "finite "
        if low is not None and high is not None:
            bound = f" between {format_bound(low)} and {format_bound(high)}"
        elif low is not None:
            bound = f" >= {format_bound(low)}"
        elif high is not None:
            bound = f" <= {format_bound(high)}"
        else:
            bound = ""
        raise ValueError(f"{name}={value!r} must be a {finite}number{bound}{_unit(unit)}")
    return float(value)


def positive(name: str, value: Any, unit: str = "", *, allow_inf: bool = False) -> float:
    """A number > 0 (finite unless ``allow_inf``)."""
    if not _is_number(value) or math.isnan(value) or not value > 0 or (math.isinf(value) and not allow_inf):
        finite = "" if allow_inf else "finite "
        raise ValueError(f"{name}={value!r} must be a {finite}number > 0{_unit(unit)}")
    return float(value)


def non_negative(name: str, value: Any, unit: str = "", *, allow_inf: bool = False) -> float:
    """A number >= 0 (finite unless ``allow_inf``)."""
    if not _is_number(value) or math.isnan(value) or not value >= 0 or (math.isinf(value) and not allow_inf):
        finite = "" if allow_inf else "finite "
        raise ValueError(f"{name}={value!r} must be a {finite}number >= 0{_unit(unit)}")
    return float(value)


def choice(name: str, value: Any, choices: Iterable[Any]) -> Any:
    """One of ``choices``."""
    options = tuple(choices)
    if value not in options:
        raise ValueError(f"{name}={value!r} must be one of {', '.join(str(c) for c in options)}")
    return value


def text(name: str, value: Any) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name}={value!r} must be a non-empty string")
    return value


def boolean(name: str, value: Any) -> bool:
    """True or False (not 0/1, not "yes")."""
    if not isinstance(value, bool):
        raise ValueError(f"{name}={value!r} must be True or False")
    return value


def optional(check: Callable[..., T], name: str, value: Any, *args: Any, none_means: str = "",
             **kwargs: Any) -> Optional[T]:
    """None, or a value ``check(name, value, *args, **kwargs)`` accepts; the error mentions both.

    ``none_means`` says what None stands for, e.g. ``optional(positive, "retention_ms", v, "ms",
    none_means="keep everything")`` -> ``retention_ms=-5 must be None (keep everything) or a
    finite number > 0 ms``.
    """
    if value is None:
        return None
    try:
        return check(name, value, *args, **kwargs)
    except ValueError as exc:
        prefix = f"{name}={value!r} must be "
        message = str(exc)
        rest = message[len(prefix):] if message.startswith(prefix) else message
        why = f" ({none_means})" if none_means else ""
        raise ValueError(f"{prefix}None{why} or {rest}") from None


def argparse_type(check: Callable[..., T], name: str, convert: Callable[[str], Any], *args: Any,
                  **kwargs: Any) -> Callable[[str], T]:
    """An argparse ``type=`` function: convert the text, then ``check(name, value, *args, **kwargs)``.

    Text that does not convert is handed to ``check`` as it is, so the check's own
    message says what is wrong.  Errors become ``argparse.ArgumentTypeError`` and show
    the value as it was typed (``jobs=2.5 must be an integer >= 1``, not ``'2.5'``);
    argparse prefixes the flag (``argument --jobs: ...``) and exits with code 2.
    """
    def parse(text: str) -> T:
        try:
            value = convert(text)
        except ValueError:
            value = text
        try:
            return check(name, value, *args, **kwargs)
        except ValueError as exc:
            import argparse  # only on the error path: the core never needs argparse

            message = str(exc)
            prefix = f"{name}={value!r}"
            if message.startswith(prefix):
                message = f"{name}={text}{message[len(prefix):]}"
            raise argparse.ArgumentTypeError(message) from None

    parse.__name__ = name.lstrip("-").replace("-", "_")
    return parse
