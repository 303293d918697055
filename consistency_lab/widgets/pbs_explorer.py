"""Appendix A2's explorer: how R, W, N and the latency model move t-visibility."""

from __future__ import annotations

from dataclasses import dataclass
from ..check.pbs import LATENCY_MODELS, p_stale, t_visibility_curve
from .base import Explorer, dropdown, slider

__all__ = ["PBSExplorer", "PBSResult", "T_GRID_MS"]

T_GRID_MS = [0, 1, 3, 10, 30, 100, 300]


@dataclass
class PBSResult:
    """One t-visibility curve and the numbers beside it."""

    model: str
    n: int
    r: int
    w: int
    ts: list
    ps: list
    metrics: dict


class PBSExplorer(Explorer):
    """Pick a latency model and quorum sizes; see how soon a read is likely to be fresh."""

    title = "How eventual is eventual? (PBS t-visibility)"
    figsize = (6.5, 3.6)

    def make_controls(self) -> dict:
        """Latency model, N, R, W and the number of simulated trials."""
        return {
            "model": dropdown("LNKD-DISK", list(LATENCY_MODELS), "latency model"),
            "n": slider(3, 1, 5, "N"),
            "r": slider(1, 1, 5, "R"),
            "w": slider(1, 1, 5, "W"),
            "trials": slider(150, 50, 3000, "trials", step=50),
        }

    def run(self, params: dict) -> PBSResult:
        """Simulate t-visibility on the quorum store at a few points in time."""
        n = params["n"]
        r, w = min(params["r"], n), min(params["w"], n)  # sliders may briefly exceed a smaller N
        ps = t_visibility_curve(params["model"], n, r, w, T_GRID_MS, params["trials"], params["seed"])
        first_99 = next((t for t, p in zip(T_GRID_MS, ps) if p >= 0.99), None)
        return PBSResult(params["model"], n, r, w, list(T_GRID_MS), ps, {
            "consistent_at_0ms": ps[0],
            "closed_form_fresh_if_only_W_copies": 1 - p_stale(n, r, w),
            "ms_until_99pct": first_99 if first_99 is not None else float("nan"),
            "r_plus_w_gt_n": r + w > n,
        })

    def render(self, result: PBSResult, fig) -> None:
        """The t-visibility curve with the 100 ms 'feels instant' mark."""
        from ..plots.pbs_plots import plot_t_visibility
        label = f"{result.model}, N={result.n} R={result.r} W={result.w}"
        plot_t_visibility({label: (result.ts, result.ps)}, threshold_ms=100, ax=fig.add_subplot())
