"""Small tables of metrics for notebooks: HTML in Jupyter, aligned text elsewhere."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

__all__ = ["Table", "metrics_table", "format_value", "display_rich"]


def display_rich(text: str, html_text: str) -> None:
    """Show ``html_text`` inside a running Jupyter kernel, and ``text`` anywhere else (a terminal, a test)."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
        if shell is not None and getattr(shell, "kernel", None) is not None:
            from IPython.display import display
            display({"text/plain": text, "text/html": html_text}, raw=True)
            return
    except Exception:  # noqa: BLE001 - falling back to print is always fine
        pass
    print(text)


def format_value(v: Any) -> str:
    """A metric as people read it: integers plain, small floats to 3 significant digits, NaN as a dash."""
    if isinstance(v, bool) or v is None:
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v == int(v) and abs(v) < 1e6:
            return f"{int(v)}"
        return f"{v:.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


@dataclass
class Table:
    """Rows of values under a header; renders itself in notebooks."""

    header: list[str]
    rows: list[list[Any]]
    title: str = ""

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{h}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{format_value(v)}</td>" for v in r) + "</tr>" for r in self.rows)
        cap = f"<caption style='text-align:left'><b>{self.title}</b></caption>" if self.title else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __str__(self) -> str:
        cells = [self.header] + [[format_value(v) for v in r] for r in self.rows]
        widths = [max(len(str(c[i])) for c in cells) for i in range(len(self.header))]
        lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return (self.title + "\n" if self.title else "") + "\n".join(lines)

    __repr__ = __str__

    def column(self, name: str) -> list[Any]:
        """The values of one column."""
        i = self.header.index(name)
        return [r[i] for r in self.rows]


def metrics_table(results: Mapping[str, Any], keys: Sequence[str], title: str = "") -> Table:
    """One row per labelled result, one column per metric key."""
    rows = []
    for label, res in results.items():
        metrics = res.metrics if hasattr(res, "metrics") else res
        missing = [k for k in keys if k not in metrics]
        if missing:
            raise ValueError(f"metric {missing[0]!r} is not in the results of {label!r}; "
                             f"available: {', '.join(sorted(metrics))}")
        rows.append([label] + [metrics[k] for k in keys])
    return Table(["run"] + [k.replace("_", " ") for k in keys], rows, title)
