"""The RaftScope-style figure: lanes show the run, the ring and logs show the chosen moment."""

import io

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgba
from PIL import Image

from consistency_lab import simulate
from consistency_lab.plots import plot_raft_timeline
from consistency_lab.plots.raft_timeline import COMMITTED, ROLE_COLOURS, RaftTimelineView


@pytest.fixture(scope="module")
def run():
    return simulate("register", seed=1, mode="raft", n=5, clients=2, operations=12, think_ms=100,
                    crash_leader="900-1700", local_latency="uniform:10,30", latency="uniform:10,30",
                    settle_ms=400, raft_timeline=True, trace=False)


def _png(fig) -> np.ndarray:
    canvas = FigureCanvasAgg(fig)
    buf = io.BytesIO()
    canvas.print_png(buf)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")).astype(int)


def test_figure_has_titles_labels_and_one_legend(run):
    fig = plot_raft_timeline(run.raft_timeline, 1000.0)
    lanes, ring, logs = fig.axes
    assert lanes.get_xlabel() == "virtual time (ms)" and lanes.get_ylabel() == "server"
    assert all(ax.get_title() for ax in fig.axes)
    assert "log index" in logs.get_xlabel()
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert {"follower", "candidate", "leader", "down", "RequestVote", "AppendEntries", "reply", "now"} <= set(labels)
    assert [t.get_text() for t in lanes.get_yticklabels()] == ["r4", "r3", "r2", "r1", "r0"]


def test_the_moment_shows_roles_terms_logs_and_messages(run):
    from matplotlib.figure import Figure

    tl = run.raft_timeline
    view_at = {}
    for t in (1000.0, tl.end):
        fig = Figure(figsize=(10, 6.4))
        view = RaftTimelineView(fig, tl.servers)
        view.show_run(tl)
        view.show_time(tl, t)
        view_at[t] = view
    crashed = tl.state_at(1000.0)
    down = [s for s, st in crashed.items() if st.role == "down"]
    assert len(down) == 1  # the leader crashed at 900 ms
    view = view_at[1000.0]
    assert view._boxes[down[0]].get_hatch() == "////"
    assert "down" in view._labels[down[0]].get_text()
    assert view.now_line.get_xdata()[0] == 1000.0
    flying = tl.in_flight(1000.0)
    assert len(view._dots.get_offsets()) == len(flying)
    end = view_at[tl.end]
    final = tl.state_at(tl.end)
    leader = [s for s, st in final.items() if st.role == "leader"]
    assert len(leader) == 1 and f"term {final[leader[0]].term}" in end._labels[leader[0]].get_text()
    # Committed cells are filled; the cell texts are the entries' terms.
    faces = [tuple(f) for f in end._cells.get_facecolors()]
    assert len(faces) == sum(min(st.last_index, end.window) for st in final.values())
    assert faces.count(to_rgba(COMMITTED)) == sum(min(st.commit, end.window) for st in final.values())
    # A cell shows its term where a run of one term starts (the first cell shown, or a new term).
    first = max(1, max(st.last_index for st in final.values()) - end.window + 1)
    for row, s in enumerate(end.servers):
        terms = final[s].log_terms[first - 1:first - 1 + end.window]
        expected = [str(t) for k, t in enumerate(terms) if k == 0 or t != terms[k - 1]]
        assert [t.get_text() for t in end._cell_text[row] if t.get_visible()] == expected, s
    assert end._commit_text[leader[0]].get_text() == f"{final[leader[0]].last_index} / {final[leader[0]].commit}"
    assert to_rgba(ROLE_COLOURS["leader"]) == tuple(end._boxes[leader[0]].get_facecolor())


def test_moving_the_moment_changes_only_the_lower_panels_and_the_now_line(run):
    tl = run.raft_timeline
    a = _png(plot_raft_timeline(tl, 400.0))
    b = _png(plot_raft_timeline(tl, 1200.0))
    h = a.shape[0]
    differs = np.abs(a - b).max(axis=2) > 0
    assert differs[h // 2:].mean() > 0.002  # the ring and the logs moved
    # In the lanes only the now line moved: a few columns, not the bands.
    cols = np.where(differs[int(0.12 * h):int(0.38 * h)].any(axis=0))[0]
    assert 0 < len(cols) < 0.03 * a.shape[1]


def test_a_timeline_of_other_servers_is_refused(run):
    from matplotlib.figure import Figure

    view = RaftTimelineView(Figure(), ("a", "b", "c"))
    with pytest.raises(ValueError, match="must be this view's servers"):
        view.show_run(run.raft_timeline)


def test_the_time_axis_may_end_after_the_run_never_before(run):
    from matplotlib.figure import Figure

    tl = run.raft_timeline
    view = RaftTimelineView(Figure(figsize=(10, 6.4)), tl.servers)
    view.show_run(tl, x_end=tl.end + 500)
    assert view.lanes.get_xlim() == (0.0, tl.end + 500)
    assert set(view.run_artists()) >= {view._bands, view._down, view._commit, view._cuts, *view._terms}
    with pytest.raises(ValueError, match="x_end=.* must be a time at or after the end of the run"):
        view.show_run(tl, x_end=tl.end - 1)
