"""One control move on an explorer, for the headless widget tests (importable as ``explorer_moves``)."""

from typing import Any


def changed(e: Any, **values: Any) -> tuple[Any, Any, bool]:
    """Set ``values`` from the defaults and return (result before, result after, whether the image changed)."""
    e.reset()
    before, png = e.result, e.image.value
    e.set(**values)
    assert e.error is None, e.error
    return before, e.result, e.image.value != png
