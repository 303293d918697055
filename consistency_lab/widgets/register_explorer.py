"""Chapter 01's explorer: one register on three replicas, sync vs async vs quorum."""

from __future__ import annotations

from typing import Any

from ..scenarios import get_scenario
from .base import Explorer, dropdown, float_slider, slider, toggle

__all__ = ["RegisterExplorer", "plot_register_run", "OPERATION_GROUPS"]

#: The partition the toggle switches on: regions A and B cut apart for 0.8 s mid-run.
PARTITION = "A|B@400-1200"


def _operation_groups():
    from ..plots.style import OKABE_ITO
    # label -> (colour, marker); the same four groups in the live explorer and the static plot.
    return {
        "write ok": (OKABE_ITO["grey"], "s"),
        "fresh read": (OKABE_ITO["bluish green"], "o"),
        "stale read": (OKABE_ITO["vermillion"], "o"),
        "failed / timed out": (OKABE_ITO["black"], "x"),
    }


OPERATION_GROUPS = ("write ok", "fresh read", "stale read", "failed / timed out")


def _points(result) -> dict[str, list[tuple[float, float]]]:
    """Each operation as (start time, latency) in its group; failures are drawn at the timeout."""
    pts: dict[str, list[tuple[float, float]]] = {g: [] for g in OPERATION_GROUPS}
    stale = {id(op) for op in result.stale}
    timeout = result.params["timeout_ms"]
    for op in result.history:
        if op.status != "ok":
            pts["failed / timed out"].append((op.call, timeout))
        elif op.input[0] == "write":
            pts["write ok"].append((op.call, op.latency))
        else:
            pts["stale read" if id(op) in stale else "fresh read"].append((op.call, op.latency))
    return pts


def plot_register_run(result, fig) -> None:
    """Left: each operation's latency over time (stale reads and failures marked); right: replica values."""
    from ..plots.register_plots import plot_replica_values
    from ..plots.style import finish, shade_windows

    ax1, ax2 = fig.subplots(1, 2)
    for label, pts in _points(result).items():
        colour, marker = _operation_groups()[label]
        if pts:
            xs, ys = zip(*pts)
            ax1.scatter(xs, ys, s=14, color=colour, marker=marker, label=label, alpha=0.85)
    shade_windows(ax1, result.faults.partition_windows(), "partition", end=result.end_time)
    finish(ax1, f"Operations ({result.params['mode']})", "time the operation started (ms)",
           "latency (ms)", loc="upper right")
    plot_replica_values(result, ax=ax2, title="Value held by each replica")


class RegisterExplorer(Explorer):
    """Move the replication mode, the distance between regions and the faults; watch reads go stale."""

    title = "One register, three replicas, two regions"
    metric_labels = {
        "write_latency_p50_ms": ("median write latency (ms)", "ms"),
        "write_latency_p99_ms": ("slowest 1% of writes (ms)", "ms"),
        "read_latency_p50_ms": ("median read latency (ms)", "ms"),
        "stale_read_fraction": ("reads that were stale", "pct"),
        "availability": ("operations that succeeded", "pct"),
        "availability_during_faults": ("succeeded during the cut", "pct"),
        "lost_acknowledged_writes": ("acknowledged writes lost", "count"),
        "converged": ("replicas agree at the end", "yes/no"),
    }
    shown_metrics = list(metric_labels)
    figsize = (10.0, 3.8)
    margins = dict(left=0.07, right=0.98, bottom=0.14, top=0.9, wspace=0.22)

    def make_controls(self) -> dict:
        """Mode, quorum sizes, WAN distance, loss and a partition switch."""
        return {
            "mode": dropdown("async", ["sync", "semi-sync", "async", "quorum"], "replication mode"),
            "r": slider(2, 1, 3, "R: replicas a read waits for"),
            "w": slider(2, 1, 3, "W: replicas a write waits for"),
            "wan_ms": slider(40, 1, 200, "A↔B one-way delay (ms)"),
            "loss": float_slider(0.0, 0.0, 0.3, "message loss (share)"),
            "partition": toggle(False, "cut A | B from 400 to 1200 ms"),
        }

    def disabled_controls(self, params: dict) -> dict[str, str]:
        """R and W only mean something for a quorum store."""
        if params["mode"] != "quorum":
            hint = "only used in quorum mode"
            return {"r": hint, "w": hint}
        return {}

    def run(self, params: dict) -> Any:
        """Simulate the register with these settings."""
        return get_scenario("register").run(
            params["seed"], mode=params["mode"], r=params["r"], w=params["w"],
            latency=f"lognormal:{params['wan_ms']},0.2", loss=params["loss"],
            faults=PARTITION if params["partition"] else "", clients=4, operations=30,
            settle_ms=800, trace=False)

    def render(self, result: Any, fig) -> None:
        """Operations on the left, replica values on the right (drawn from scratch)."""
        plot_register_run(result, fig)

    def setup(self, live) -> None:
        """Two axes, four scatter groups, one step line per replica, shaded faults: built once."""
        import numpy as np
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        from ..plots.live import lean_axes, time_spans
        from ..plots.style import OKABE_ITO, PALETTE

        ax1, ax2 = live.fig.subplots(1, 2)
        lean_axes(ax1)
        lean_axes(ax2, "Value held by each replica")
        self._ax = (ax1, ax2)
        self._cut1 = time_spans(ax1, OKABE_ITO["grey"])
        self._cut2 = time_spans(ax2, OKABE_ITO["grey"])
        self._crash = time_spans(ax2, OKABE_ITO["vermillion"])
        self._groups = {}
        handles = [Patch(color=OKABE_ITO["grey"], alpha=0.3, label="partition")]
        for label, (colour, marker) in _operation_groups().items():
            sc = ax1.scatter(np.empty(0), np.empty(0), s=14, color=colour, marker=marker, alpha=0.85)
            self._groups[label] = sc
            handles.insert(-1, Line2D([], [], ls="", marker=marker, color=colour, label=label))
        ax1.set_xlabel("time the operation started (ms)")
        ax1.set_ylabel("latency (ms)")
        ax1.grid(True, alpha=0.25)
        self._legend1 = ax1.legend(handles=handles, loc="upper right", fontsize="small", framealpha=1.0, fancybox=False)
        self._lines = {}
        for i, r in enumerate(("r0", "r1", "r2")):
            (self._lines[r],) = ax2.step([], [], where="post", color=PALETTE[i % len(PALETTE)], lw=1.4,
                                         alpha=0.9, label=r)
        ax2.set_xlabel("virtual time (ms)")
        ax2.set_ylabel("value held (write number)")
        ax2.grid(True, alpha=0.25)
        self._legend2 = ax2.legend(handles=[*self._lines.values(),
                                            Patch(color=OKABE_ITO["grey"], alpha=0.3, label="partition")],
                                   loc="upper left", fontsize="small", framealpha=1.0, fancybox=False)
        live.dynamic(self._cut1, self._cut2, self._crash, *self._groups.values(), *self._lines.values())
        live.overlay(self._legend1)
        live.overlay(self._legend2)

    def refresh(self, result: Any, live) -> Any:
        """Move the new run into the artists; axis ends are rounded up so they rarely change."""
        import numpy as np

        from ..plots.live import set_spans, sticky_limit

        ax1, ax2 = self._ax
        end = result.end_time
        top_latency = 1.0
        for label, pts in _points(result).items():
            arr = np.asarray(pts, dtype=float).reshape(-1, 2)
            self._groups[label].set_offsets(arr)
            if len(arr):
                top_latency = max(top_latency, float(arr[:, 1].max()))
        cuts = result.faults.partition_windows()
        set_spans(self._cut1, cuts, end)
        set_spans(self._cut2, cuts, end)
        set_spans(self._crash, [(c.start, c.end) for c in result.faults.crashes()], end)
        top_value = 1.0
        for r, line in self._lines.items():
            pts = [(0.0, 0.0)]
            for t, replica, value in result.change_log:
                if replica == r:
                    v = value if not isinstance(value, tuple) else max(value)
                    pts.append((t, float(v) if v is not None else 0.0))
            pts.append((end, pts[-1][1]))
            xs, ys = zip(*pts)
            line.set_data(xs, ys)
            line.set_visible(r in result.replica_states)
            top_value = max(top_value, max(ys))
        x_end = sticky_limit(ax1.get_xlim()[1], end, 100)
        ax1.set_xlim(0, x_end)
        ax1.set_ylim(0, sticky_limit(ax1.get_ylim()[1], top_latency * 1.08, 10))
        ax1.set_title(f"Operations ({result.params['mode']})")
        ax2.set_xlim(0, x_end)
        ax2.set_ylim(0, sticky_limit(ax2.get_ylim()[1], top_value * 1.05, 5))
        return None
