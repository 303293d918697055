"""Chapter 07's figures: scan latency and read-model lag over time, load sweeps, SQLite speed-ups, lag vs rate."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, Optional, Sequence

from .style import OKABE_ITO, PALETTE, finish, new_figure, shade_windows

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["ARCH_COLOURS", "plot_scan_latency", "plot_read_lag", "plot_load_sweep", "plot_speedups",
           "plot_projection_lag", "plot_lag_against_rate"]

#: One colour per architecture in every figure of the chapter.
ARCH_COLOURS = {"orchestration": OKABE_ITO["blue"], "choreography": OKABE_ITO["orange"],
                "cqrs": OKABE_ITO["bluish green"]}


def _outage(result: Any) -> list[tuple[float, float]]:
    p = result.params
    if p["outage_service"] == "none" or p["outage_ms"] <= 0:
        return []
    return [(p["outage_start_ms"], p["outage_start_ms"] + p["outage_ms"])]


def plot_scan_latency(result: Any, ax: "Optional[Axes]" = None, bin_ms: float = 100.0) -> "Figure":
    """p99 wait of the scans that arrived in each bin, and the share of them that failed, over time."""
    fig, ax = new_figure(8, 3.4, ax)
    bins = result.scan_latency_over_time(bin_ms)
    arch = result.params["architecture"]
    ax.plot([b[0] for b in bins], [b[1] for b in bins], color=ARCH_COLOURS[arch], lw=1.6,
            label=f"{arch}: p99 scan wait")
    failed = [(b[0], b[1]) for b in bins if b[2] > 0]
    if failed:
        ax.scatter([t for t, _ in failed], [v for _, v in failed], color=OKABE_ITO["vermillion"], marker="x",
                   zorder=3, label="bins with failed scans")
    shade_windows(ax, _outage(result), f"{result.params['outage_service']} down")
    ax.set_ylim(bottom=0)
    finish(ax, "Scan latency over time", "virtual time (ms)", "p99 wait of a depot (ms)", loc="upper right")
    return fig


def plot_read_lag(result: Any, ax: "Optional[Axes]" = None) -> "Figure":
    """Backlog age of the view answering queries and of tracking, over time (s)."""
    fig, ax = new_figure(8, 3.4, ax)
    ts = [s[0] for s in result.samples]
    ax.plot(ts, [s[1] / 1000.0 for s in result.samples], color=PALETTE[2], lw=1.6,
            label="view answering queries")
    ax.plot(ts, [s[2] / 1000.0 for s in result.samples], color=PALETTE[1], lw=1.0, ls="--", label="tracking")
    shade_windows(ax, _outage(result), f"{result.params['outage_service']} down")
    ax.set_ylim(bottom=0)
    finish(ax, f"Read-model lag ({result.params['architecture']})", "virtual time (ms)",
           "oldest unapplied scan (s)", loc="upper right")
    return fig


def plot_load_sweep(rows: Sequence[Mapping[str, Any]], ax: "Optional[Axes]" = None,
                    metric: str = "scan_p99_ms", ylabel: str = "p99 scan wait (ms)") -> "Figure":
    """``metric`` against offered scans per second, one line per architecture (rows from ``load_sweep``)."""
    fig, ax = new_figure(7, 3.6, ax)
    for arch, colour in ARCH_COLOURS.items():
        mine = [r for r in rows if r["architecture"] == arch]
        if mine:
            ax.plot([r["scan_rps"] for r in mine], [r[metric] for r in mine], marker="o", color=colour, label=arch)
    finish(ax, "Rising load on one workload", "offered scans (per s)", ylabel)
    return fig


def plot_speedups(timings: Sequence[Any], ax: "Optional[Axes]" = None) -> "Figure":
    """Median speed-up of the projection over the write store per query shape and data size, with 4x marked."""
    fig, ax = new_figure(8, 3.6, ax)
    sizes = sorted({t.scans for t in timings})
    shapes = list(dict.fromkeys(t.query for t in timings))
    width = 0.8 / max(1, len(sizes))
    for i, size in enumerate(sizes):
        values = [next(t.speedup for t in timings if t.scans == size and t.query == q) for q in shapes]
        ax.bar([j + i * width for j in range(len(shapes))], values, width, color=PALETTE[i % len(PALETTE)],
               label=f"{size:,} scans")
    ax.axhline(4.0, color=OKABE_ITO["vermillion"], ls=":", label="4x (the article's 400 %)")
    ax.axhline(1.0, color=OKABE_ITO["grey"], lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks([j + width * (len(sizes) - 1) / 2 for j in range(len(shapes))], shapes)
    finish(ax, "Projection against normalised write store (real SQLite)", "query shape",
           "speed-up (median time ratio, log)")
    return fig


def plot_projection_lag(result: Any, ax: "Optional[Axes]" = None) -> "Figure":
    """Backlog age of the projector over minutes, the tolerance, the peak and when the alarm was raised."""
    fig, ax = new_figure(8, 3.4, ax)
    p = result.params
    ax.plot([t for t, _ in result.samples], [a for _, a in result.samples], color=PALETTE[0], lw=1.5,
            label=f"{p['write_rate_per_s']:g} scans/s (peak x{p['peak_factor']:g})")
    ax.axhline(p["tolerance_s"], color=OKABE_ITO["vermillion"], ls=":", label=f"tolerance {p['tolerance_s']:g} s")
    shade_windows(ax, [(p["peak_start_s"], p["peak_start_s"] + p["peak_s"])], "peak", OKABE_ITO["grey"])
    shade_windows(ax, result.alarm_intervals, "alarm raised", OKABE_ITO["vermillion"],
                  end=result.samples[-1][0] if result.samples else None)
    ax.set_ylim(bottom=0)
    finish(ax, "Read-model lag against the tolerance", "time (s)", "oldest unapplied event (s)", loc="upper left")
    return fig


def plot_lag_against_rate(runs: Sequence[tuple[float, float]], tolerance_s: float,
                          ax: "Optional[Axes]" = None, estimate: Optional[float] = None) -> "Figure":
    """Worst lag of each run against its base write rate (the bisection's runs), with the tolerance."""
    fig, ax = new_figure(7, 3.4, ax)
    pts = sorted(runs)
    ax.plot([r for r, _ in pts], [lag for _, lag in pts], marker="o", color=PALETTE[0], label="simulated runs")
    ax.axhline(tolerance_s, color=OKABE_ITO["vermillion"], ls=":", label=f"tolerance {tolerance_s:g} s")
    if estimate is not None:
        ax.axvline(estimate, color=OKABE_ITO["grey"], ls="--", label=f"queueing estimate {estimate:.2f}/s")
    ax.set_yscale("symlog", linthresh=10.0)
    ax.set_ylim(bottom=0)
    finish(ax, "Where the lag crosses the tolerance", "base write rate (scans/s)", "worst lag (s)")
    return fig
