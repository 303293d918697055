"""Appendix A2's explorer: how R, W, N and the latency model move t-visibility."""

from __future__ import annotations

from dataclasses import dataclass

from ..pbs import LATENCY_MODELS, p_stale, t_visibility_curve
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
    metric_labels = {
        "r_plus_w_gt_n": ("R + W > N", "yes/no"),
        "consistent_at_0ms": ("fresh right after the write", "pct"),
        "closed_form_fresh_if_only_W_copies": ("fresh if only W replicas had it (formula)", "pct"),
        "ms_until_99pct": ("ms until 99% fresh", "ms"),
    }
    shown_metrics = list(metric_labels)
    figsize = (6.5, 3.6)
    margins = dict(left=0.12, right=0.97, bottom=0.15, top=0.9)

    def make_controls(self) -> dict:
        """Latency model, N, R, W and the number of simulated trials."""
        return {
            "model": dropdown("LNKD-DISK", list(LATENCY_MODELS), "latency model"),
            "n": slider(3, 1, 5, "N: replicas of each key"),
            "r": slider(1, 1, 3, "R: replies a read waits for"),
            "w": slider(1, 1, 3, "W: acks a write waits for"),
            "trials": slider(150, 50, 3000, "simulated writes (trials)", step=50),
        }

    def adjust_controls(self) -> None:
        """R and W cannot exceed N: their sliders end at N (a larger value is pulled down)."""
        n = self.controls["n"].value
        for k in ("r", "w"):
            self.controls[k].max = n

    def disabled_controls(self, params: dict) -> dict[str, str]:
        """With one replica there is nothing to choose for R and W."""
        if params["n"] == 1:
            return {"r": "N = 1: one replica to wait for", "w": "N = 1: one replica to wait for"}
        return {}

    def run(self, params: dict) -> PBSResult:
        """Simulate t-visibility on the quorum store at a few points in time."""
        n = params["n"]
        r, w = min(params["r"], n), min(params["w"], n)  # set() may pass R or W above a new N
        ps = t_visibility_curve(params["model"], n, r, w, T_GRID_MS, params["trials"], params["seed"])
        first_99 = next((t for t, p in zip(T_GRID_MS, ps) if p >= 0.99), None)
        return PBSResult(params["model"], n, r, w, list(T_GRID_MS), ps, {
            "consistent_at_0ms": ps[0],
            "closed_form_fresh_if_only_W_copies": 1 - p_stale(n, r, w),
            "ms_until_99pct": first_99 if first_99 is not None else float("nan"),
            "r_plus_w_gt_n": r + w > n,
        })

    def render(self, result: PBSResult, fig) -> None:
        """The t-visibility curve with the 100 ms 'feels instant' mark (drawn from scratch)."""
        from ..plots.pbs_plots import plot_t_visibility
        label = f"{result.model}, N={result.n} R={result.r} W={result.w}"
        plot_t_visibility({label: (result.ts, result.ps)}, threshold_ms=100, ax=fig.add_subplot())

    def setup(self, live) -> None:
        """Fixed axes (the time grid and the probability range never change); one curve updated in place."""
        from ..plots.live import lean_axes
        from ..plots.style import PALETTE

        ax = live.fig.add_subplot()
        self._ax = ax
        (self._curve,) = ax.plot(T_GRID_MS, [0.0] * len(T_GRID_MS), marker=".", color=PALETTE[0])
        self._mark = ax.axvline(100, color="#555555", ls=":", label="100 ms")
        ax.set_xscale("symlog", linthresh=1.0)  # linear below 1 ms so t = 0 sits on the axis
        ax.set_xlim(0, T_GRID_MS[-1] * 1.1)
        ax.set_ylim(-0.02, 1.02)
        lean_axes(ax, "Chance a read sees the latest write")
        ax.set_xlabel("time since the write committed (ms)")
        ax.set_ylabel("probability the read is consistent")
        ax.grid(True, alpha=0.25)
        self._curve.set_label("N R W")
        self._legend = ax.legend(handles=[self._curve, self._mark], loc="lower right", fontsize="small",
                                 framealpha=1.0, fancybox=False)
        live.dynamic(self._curve)
        live.overlay(self._legend, key=lambda: self._legend.texts[0].get_text())

    def refresh(self, result: PBSResult, live) -> None:
        """New probabilities, and the legend names the configuration."""
        self._curve.set_ydata(result.ps)
        self._legend.texts[0].set_text(f"{result.model}, N={result.n} R={result.r} W={result.w}")
        return None
