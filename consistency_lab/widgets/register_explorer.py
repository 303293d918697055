"""Chapter 01's explorer: one register on three replicas, sync vs async vs quorum."""

from __future__ import annotations

from typing import Any

from ..scenarios import get_scenario
from .base import Explorer, dropdown, float_slider, slider, toggle

__all__ = ["RegisterExplorer", "plot_register_run"]

#: The partition the toggle switches on: regions A and B cut apart for 0.8 s mid-run.
PARTITION = "A|B@400-1200"


def plot_register_run(result, fig) -> None:
    """Left: each operation's latency over time (stale reads and failures marked); right: replica values."""
    from ..plots.register_plots import plot_replica_values
    from ..plots.style import OKABE_ITO, finish, shade_windows

    ax1, ax2 = fig.subplots(1, 2)
    groups = {
        "write ok": ([], OKABE_ITO["grey"], "s"),
        "fresh read": ([], OKABE_ITO["bluish green"], "o"),
        "stale read": ([], OKABE_ITO["vermillion"], "o"),
        "failed / timed out": ([], OKABE_ITO["black"], "x"),
    }
    stale = {id(op) for op in result.stale}
    timeout = result.params["timeout_ms"]
    for op in result.history:
        if op.status != "ok":
            groups["failed / timed out"][0].append((op.call, timeout))
        elif op.input[0] == "write":
            groups["write ok"][0].append((op.call, op.latency))
        else:
            key = "stale read" if id(op) in stale else "fresh read"
            groups[key][0].append((op.call, op.latency))
    for label, (pts, colour, marker) in groups.items():
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
    shown_metrics = ["write_latency_p50_ms", "write_latency_p99_ms", "read_latency_p50_ms",
                     "stale_read_fraction", "availability", "availability_during_faults",
                     "lost_acknowledged_writes", "converged"]
    figsize = (10.0, 3.8)

    def make_controls(self) -> dict:
        """Mode, quorum sizes, WAN distance, loss and a partition switch."""
        return {
            "mode": dropdown("async", ["sync", "semi-sync", "async", "quorum"], "mode"),
            "r": slider(2, 1, 3, "R (quorum)"),
            "w": slider(2, 1, 3, "W (quorum)"),
            "wan_ms": slider(40, 1, 200, "A↔B one-way (ms)"),
            "loss": float_slider(0.0, 0.0, 0.3, "message loss"),
            "partition": toggle(False, "cut A | B from 400 to 1200 ms"),
        }

    def run(self, params: dict) -> Any:
        """Simulate the register with these settings."""
        return get_scenario("register").run(
            params["seed"], mode=params["mode"], r=params["r"], w=params["w"],
            latency=f"lognormal:{params['wan_ms']},0.2", loss=params["loss"],
            faults=PARTITION if params["partition"] else "", clients=4, operations=30,
            settle_ms=800, trace=False)

    def render(self, result: Any, fig) -> None:
        """Operations on the left, replica values on the right."""
        plot_register_run(result, fig)
