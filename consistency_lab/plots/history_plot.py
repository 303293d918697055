"""Draw a history as bars on a time line, one row per client, with a checker's witness."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Iterable

from consistency_lab.history import History, Operation

from .style import OKABE_ITO  # Okabe–Ito: distinguishable with common colour blindness

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from consistency_lab.check.result import CheckResult

_FONT = 8  # label size in points

_STYLE = {
    # category: (face colour, legend label)
    "plain": (OKABE_ITO["sky blue"], "operation"),
    "ok": (OKABE_ITO["bluish green"], "fits the legal order"),
    "linearized": (OKABE_ITO["blue"], "in longest legal prefix"),
    "unplaceable": (OKABE_ITO["vermillion"], "cannot be placed next"),
    "other": (OKABE_ITO["grey"], "not reached"),
    "fail": ("white", "failed (no effect)"),
}


def plot_history(
    ops: Iterable[Operation] | History,
    result: CheckResult | None = None,
    ax: Axes | None = None,
    title: str | None = None,
    *,
    describe: Callable[[Any, Any], str] | None = None,
) -> Figure:
    """Plot operations as call→return bars per client, highlighting ``result``'s witness.

    Pending operations run to the right edge, ending in a faded hatched stretch.
    Labels use ``describe(input, output)``, else the result's model, else a
    default; labels that would collide are left out, except the unplaceable
    operation's.  Returns the figure (a new one unless ``ax`` is given).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    ops = list(ops.operations if isinstance(ops, History) else ops)
    clients = _client_order(ops)
    own_figure = ax is None
    if ax is None:
        fig = Figure(figsize=(10, 1.2 + 0.6 * max(1, len(clients))))
        ax = fig.add_subplot()
    else:
        fig = ax.figure

    row = {c: i for i, c in enumerate(clients)}
    finite = [t for op in ops for t in (op.call, op.return_time) if not math.isinf(t)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = (hi - lo) or 1.0
    # Pending operations run past the last known instant to this edge.
    right = hi + 0.08 * span if any(op.pending for op in ops) else hi
    min_width = 0.004 * span  # keep zero-length operations visible
    ax.set_xlim(lo - 0.02 * span, right + 0.02 * span)
    # Rough width of one label character in data units (the axes shrinks a little
    # when the legend is placed, hence the margin), so crowded labels can be skipped.
    x0, x1 = ax.get_xlim()
    char_w = (0.6 * _FONT * fig.dpi / 72) / (0.8 * ax.bbox.width / (x1 - x0))

    categories, order_of = _categories(ops, result)
    text = _labeller(result, describe)
    spans: dict[int, tuple[float, float]] = {}
    for op, cat in zip(ops, categories, strict=True):
        face, _ = _STYLE[cat]
        y = row[op.client_id]
        bar: dict[str, Any] = dict(height=0.55, color=face, edgecolor=OKABE_ITO["black"], linewidth=0.8)
        if cat == "fail":
            bar.update(linestyle="--", edgecolor=OKABE_ITO["grey"])
        if op.pending:
            # Solid up to the last known instant, then a faded hatched tail to the
            # edge: the operation may take effect at any later time, or never.
            solid = hi - op.call
            if solid > 0:
                ax.barh(y, solid, left=op.call, **bar)
            ax.barh(y, right - max(op.call, hi), left=max(op.call, hi), hatch="///", alpha=0.45, **bar)
            end = right
        else:
            end = op.call + max(op.return_time - op.call, min_width)
            ax.barh(y, end - op.call, left=op.call, **bar)
        spans[id(op)] = (op.call, end)

    # Labels row by row, left to right, skipping any that would run into another
    # bar or label; the unplaceable operation is always named (above its bar).
    used_above = False
    for client in clients:
        on_row = sorted(
            (pair for pair in zip(ops, categories, strict=True) if pair[0].client_id == client),
            key=lambda pair: spans[id(pair[0])],
        )
        left_limit = x0  # end of the previous bar or label on this row
        for k, (op, cat) in enumerate(on_row):
            start, end = spans[id(op)]
            right_limit = spans[id(on_row[k + 1][0])][0] if k + 1 < len(on_row) else x1
            label = text(op) + (" (failed)" if op.status == "fail" else "")
            tries = [label]
            if id(op) in order_of:
                tries = [f"#{order_of[id(op)]} {label}", f"#{order_of[id(op)]}"]
            centre, y = (start + end) / 2, row[op.client_id]
            gap = 0.6 * char_w
            # Each label goes inside its bar when it fits there, else just after the bar, else
            # just before it: never centred across a narrow bar, which would hide the text.
            placed = None  # (text, x, ha, right end of the text)
            for cand in tries:
                width = len(cand) * char_w
                if width + 2 * gap <= end - start:
                    placed = cand, centre, "center", centre + width / 2
                elif cat == "unplaceable":
                    continue  # named in bold above its bar instead, where it stands out
                elif end + gap + width <= right_limit - gap:
                    placed = cand, end + gap, "left", end + gap + width
                elif start - gap - width >= left_limit + gap:
                    placed = cand, start - gap, "right", start - gap
                if placed is not None:
                    break
            if placed is not None:
                # White only on a dark bar that holds the whole label.
                inside = placed[2] == "center" and not (op.pending and hi <= op.call)
                strong = cat in ("linearized", "unplaceable") and inside
                ax.text(placed[1], y, placed[0], ha=placed[2], va="center", fontsize=_FONT,
                        color="white" if strong else OKABE_ITO["black"], clip_on=True)
            elif cat == "unplaceable":
                ax.text(centre, y - 0.3, label, ha="center", va="bottom", fontsize=_FONT,
                        fontweight="bold", color=_STYLE["unplaceable"][0], clip_on=False)
                used_above = True
            left_limit = max(end, placed[3] if placed else end)

    present = set(categories)
    handles = [
        Patch(facecolor=_STYLE[c][0], edgecolor=OKABE_ITO["black"], label=_STYLE[c][1])
        for c in _STYLE
        if c in present
    ]
    if any(op.pending for op in ops):
        handles.append(
            Patch(facecolor="white", edgecolor=OKABE_ITO["black"], hatch="///",
                  label="pending (outcome unknown)")
        )
    if handles:
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0),
                  fontsize=8, frameon=False)

    ax.set_yticks(range(len(clients)))
    ax.set_yticklabels([str(c) for c in clients])
    ax.set_ylim(len(clients) - 0.5, -0.8 if used_above else -0.5)  # first client on top
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("client")
    ax.grid(axis="x", color=OKABE_ITO["grey"], alpha=0.3)
    ax.set_title(title if title is not None else _default_title(result))
    if own_figure:  # leave the layout of a caller's figure alone
        fig.tight_layout()
    return fig


def _client_order(ops: list[Operation]) -> list[Any]:
    clients = list(dict.fromkeys(op.client_id for op in ops))
    try:
        return sorted(clients)
    except TypeError:  # mixed id types: keep first-seen order
        return clients


def _categories(
    ops: list[Operation], result: CheckResult | None
) -> tuple[list[str], dict[int, int]]:
    """A style category per operation, and the witness position of linearised ones.

    Keyed by id(): operations may hold unhashable inputs, and results hold the
    very objects passed in.
    """
    cat_of: dict[int, str] = {}
    order_of: dict[int, int] = {}
    parts = [] if result is None else (result.partition_results or [result])
    for part in parts:
        if part.verdict == "ok":
            cat_of.update((id(op), "ok") for op in part.ops)
        elif part.verdict == "illegal" and part.witness is not None:
            cat_of.update((id(op), "other") for op in part.ops)
            for k, op in enumerate(part.witness.linearized, 1):
                cat_of[id(op)] = "linearized"
                order_of[id(op)] = k
            cat_of.update((id(op), "unplaceable") for op in part.witness.unplaceable)
    cats = [
        "fail" if op.status == "fail" else cat_of.get(id(op), "plain") for op in ops
    ]
    return cats, order_of


def _labeller(
    result: CheckResult | None, describe: Callable[[Any, Any], str] | None
) -> Callable[[Operation], str]:
    from consistency_lab.check.model_type import UNKNOWN
    from consistency_lab.check.builtin_models import describe_op

    def text(op: Operation) -> str:
        output = UNKNOWN if op.status == "info" else op.output
        if describe is not None:
            return describe(op.input, output)
        if result is not None:
            return result.describe(op)
        return describe_op(op.input, output)

    return text


def _default_title(result: CheckResult | None) -> str:
    if result is None:
        return "history"
    return f"history: {result.verdict}"
