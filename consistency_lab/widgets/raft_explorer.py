"""Chapter 05's Raft explorer, in the spirit of RaftScope: five servers, a time scrubber, leader faults.

One deterministic run of the register scenario in ``raft`` mode with its timeline
recorded; the scrubber (from :mod:`.base`) steps through it without re-running.
"""

from __future__ import annotations

from typing import Any

from ..scenarios import get_scenario
from .base import Explorer, dropdown, float_slider, slider

__all__ = ["RaftExplorer", "SERVERS", "CRASH_DOWN_MS", "CUTS"]

#: Five servers, as in the Raft paper's figures and RaftScope.
SERVERS = ("r0", "r1", "r2", "r3", "r4")
#: How long a crashed leader stays down before it restarts (ms).
CRASH_DOWN_MS = 1000
CUTS = ("none", "isolate the leader", "split 2|3")
#: Every link takes 10-30 ms one way: slow enough that messages are seen in flight at most moments.
LINK_LATENCY = "uniform:10,30"


class RaftExplorer(Explorer):
    """Move the election timeouts, crash the leader, cut the network; scrub through the run."""

    title = "Raft, five servers: roles, terms, logs and messages over time"
    metric_labels = {
        "leaders_elected": ("leaders elected", "count"),
        "terms": ("terms (the last one reached)", "count"),
        "time_without_leader_ms": ("time without a leader (ms)", "ms"),
        "committed_entries": ("committed log entries", "count"),
        "availability": ("operations that succeeded", "pct"),
        "linearizable": ("history linearizable (checker)", "yes/no"),
        "one_leader_per_term": ("at most one leader per term", "yes/no"),
        "lost_acknowledged_writes": ("acknowledged writes lost", "count"),
    }
    shown_metrics = list(metric_labels)
    figsize = (10.0, 6.4)

    def make_controls(self) -> dict:
        """Election-timeout range, a leader crash, a network cut (when, how long) and message loss."""
        return {
            "timeout_min": slider(150, 10, 500, "election timeout min (ms)", step=10),
            "timeout_max": slider(300, 10, 600, "election timeout max (ms)", step=10),
            "crash_at": dropdown("never", ["never", "500", "1000", "1500", "2000"], "crash leader at (ms; down 1 s)"),
            "cut": dropdown("none", list(CUTS), "cut the network"),
            "cut_at": slider(1500, 0, 3000, "cut starts at (ms)", step=100),
            "cut_ms": slider(800, 100, 2000, "cut lasts (ms)", step=100),
            "loss": float_slider(0.0, 0.0, 0.3, "message loss (share)"),
        }

    def disabled_controls(self, params: dict) -> dict[str, str]:
        """When and how long only matter when there is a cut."""
        if params["cut"] == "none":
            hint = "no cut chosen"
            return {"cut_at": hint, "cut_ms": hint}
        return {}

    def run(self, params: dict) -> Any:
        """Simulate five Raft servers with these settings, recording their timeline."""
        from ..check import check_operations
        from ..check.builtin_models import register_model
        from ..replication.raft_recorder import one_leader_per_term, time_without_leader

        crash_at = params["crash_at"]
        crash = "" if crash_at == "never" else f"{crash_at}-{int(crash_at) + CRASH_DOWN_MS}"
        at, until = params["cut_at"], params["cut_at"] + params["cut_ms"]
        cut = params["cut"]
        isolate = f"{at}-{until}" if cut == "isolate the leader" else ""
        faults = f"r0,r1|r2,r3,r4@{at}-{until}" if cut == "split 2|3" else ""
        result = get_scenario("register").run(
            params["seed"], mode="raft", n=len(SERVERS), clients=2, operations=15, think_ms=120,
            timeout_ms=600, local_latency=LINK_LATENCY, latency=LINK_LATENCY, loss=params["loss"],
            election_timeout_min_ms=params["timeout_min"], election_timeout_max_ms=params["timeout_max"],
            crash_leader=crash, isolate_leader=isolate, faults=faults, settle_ms=600,
            raft_timeline=True, trace=False)
        tl = result.raft_timeline
        final = tl.state_at(tl.end)
        verdict = check_operations(register_model(), result.history, timeout=2.0).verdict
        result.metrics.update({
            "leaders_elected": len(tl.leaders()),
            "terms": max(s.term for s in final.values()),
            "time_without_leader_ms": time_without_leader(tl),
            "committed_entries": max(s.commit for s in final.values()),
            "linearizable": None if verdict == "unknown" else verdict == "ok",
            "one_leader_per_term": one_leader_per_term(tl),
        })
        return result

    # -- drawing --------------------------------------------------------------------
    def render(self, result: Any, fig) -> None:
        """The whole picture at the scrubbed time, from scratch."""
        from ..plots.raft_timeline import plot_raft_timeline

        t = self.time if self.scrubber is not None and self.scrubber.max > 1 else None
        plot_raft_timeline(result.raft_timeline, t, fig=fig, cuts=result.faults.partition_windows())

    def setup(self, live) -> None:
        """Lanes, ring and logs, built once; everything the scrubber moves is dynamic."""
        from ..plots.raft_timeline import RaftTimelineView

        self.view = RaftTimelineView(live.fig, SERVERS)
        # The lanes' bands and labels are dynamic too: painting them (a few ms) costs far less than
        # redrawing the lanes' ticks into the background for every new run.
        self._run_artists = self.view.run_artists()
        live.dynamic(*self._run_artists, *self.view.dynamic_artists())
        live.overlay(self.view.legend)  # the same for every run: rendered once, then pasted

    def refresh(self, result: Any, live) -> Any:
        """A new run: new lanes on a time axis that most runs share, so the background survives."""
        from ..plots.live import sticky_limit

        tl = result.raft_timeline
        for a in self._run_artists:
            live.forget(a)  # the last run's term labels are gone; the collections come back below
        x_end = sticky_limit(self.view.lanes.get_xlim()[1], max(tl.end, 1.0), 1.0, slack=0.6)
        self.view.show_run(tl, cuts=result.faults.partition_windows(), x_end=x_end)
        self._run_artists = self.view.run_artists()
        live.dynamic(*self._run_artists)
        return None  # the lanes are dynamic: the background changes only with the time axis

    def time_range(self, result: Any) -> tuple[float, float]:
        """The whole run, from 0 to its last event (ms)."""
        return 0.0, result.raft_timeline.end

    def at_time(self, result: Any, t_ms: float, live) -> None:
        """Move the now line, the ring and the logs to ``t_ms``."""
        self.view.show_time(result.raft_timeline, t_ms)
