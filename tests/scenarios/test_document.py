"""The document scenario: CRDTs converge and keep every surviving character; LWW loses work; central refuses."""

import re

import pytest

from consistency_lab import simulate
from consistency_lab.scenarios.document import STRATEGIES
from consistency_lab.scenarios.document_session import display

SHORT = {"duration_ms": 8_000.0, "keys_per_s": 4.0}
#: Editor 0 is cut off from everyone for 4 s while all three keep typing.
CUT = {**SHORT, "partitions_per_min": 0.0, "faults": "e0|e1,e2,server@2000-6000"}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_same_seed_same_run(strategy):
    a = simulate("document", 5, strategy=strategy, **SHORT)
    b = simulate("document", 5, strategy=strategy, **SHORT)
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics and a.final == b.final


def test_every_strategy_replays_the_same_session():
    sessions = {s: simulate("document", 3, strategy=s, **SHORT).session for s in STRATEGIES}
    assert len({(x.keystrokes, x.cuts) for x in sessions.values()}) == 1
    assert sessions["crdt"].cuts, "the default partition rate cuts someone off in 8 s at this seed"
    assert simulate("document", 4, **SHORT).session != sessions["crdt"]


@pytest.mark.parametrize("strategy", ["crdt", "pycrdt"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_crdts_converge_and_keep_every_surviving_character(strategy, seed):
    r = simulate("document", seed, strategy=strategy, partitions_per_min=6.0, loss=0.1, duplicate=0.2,
                 reorder=0.3, **SHORT)
    assert r.stopped == "" and r.converged
    assert len(set(r.texts.values())) == 1
    typed = {e.char for e in r.edits if e.kind == "ins"}
    deleted = {e.char for e in r.edits if e.kind == "del"}
    assert set(r.final) - set(r.session.base) == typed - deleted  # every survivor once, nothing else
    assert len(r.final) == len(set(r.final))
    assert r.metrics["lost_chars"] == r.metrics["revived_chars"] == r.metrics["silent_overwrites"] == 0
    assert r.metrics["conflicts"] == 0


@pytest.mark.parametrize("strategy", ["crdt", "pycrdt"])
def test_both_sides_of_a_cut_keep_their_work(strategy):
    r = simulate("document", 0, strategy=strategy, **CUT)
    during = [e for e in r.edits if e.kind == "ins" and 2000 <= e.time_ms <= 6000]
    assert {e.editor for e in during} == {0, 1, 2}
    assert all(e.char in r.final for e in during if not any(d.char == e.char for d in r.edits if d.kind == "del"))
    assert r.converged and r.metrics["lost_chars"] == 0


def test_last_writer_wins_silently_loses_typed_characters():
    r = simulate("document", 0, strategy="lww", **CUT)
    assert r.converged  # every replica ends with the same text ...
    assert r.metrics["lost_chars"] > 0 and r.metrics["silent_overwrites"] > 0  # ... without the losers' work
    assert r.metrics["conflicts"] == 0  # and nobody was told
    crdt = simulate("document", 0, strategy="crdt", **CUT)
    assert crdt.metrics["lost_chars"] == 0


def test_lww_loses_work_even_without_cuts_when_people_type_at_once():
    r = simulate("document", 1, strategy="lww", duration_ms=8_000.0, keys_per_s=4.0, partitions_per_min=0.0)
    assert r.metrics["cutoffs"] == 0 and r.metrics["lost_chars"] > 0


def test_central_refuses_offline_edits_as_a_conflict_and_loses_nothing_silently():
    r = simulate("document", 0, strategy="central", **CUT)
    assert r.converged and r.stopped == ""
    assert r.metrics["conflicts"] >= 1 and r.metrics["refused_edits"] > 0
    assert r.metrics["lost_chars"] == 0 and r.metrics["silent_overwrites"] == 0
    offline = [e for e in r.edits if e.offline]
    assert offline and {e.editor for e in offline} == {0}
    assert not any(e.char in r.final for e in offline if e.kind == "ins")  # refused: not in the document
    assert r.texts["server"] == r.final


def test_central_accepts_everything_when_nobody_is_cut_off():
    r = simulate("document", 2, strategy="central", partitions_per_min=0.0, loss=0.0, **SHORT)
    assert r.metrics["conflicts"] == 0 and r.metrics["lost_edits"] == 0 and r.converged


def test_a_cut_that_never_heals_stops_the_run_and_says_so():
    r = simulate("document", 0, strategy="crdt", faults="e0|e1,e2,server@1000-", partitions_per_min=0.0,
                 duration_ms=3_000.0)
    assert r.stopped.startswith("stopped early: the time bound") and "e0" in r.stopped
    assert not r.converged


def test_snapshots_follow_every_replica_over_time():
    r = simulate("document", 0, strategy="central", **CUT)
    assert set(r.snapshots) == {"e0", "e1", "e2", "server"}
    times = [t for t, _ in r.snapshots["e0"]]
    assert times == sorted(times) and times[0] == 0.0 and times[-1] == r.end_time
    assert r.snapshots["e1"][-1][1] == r.final
    assert set(display(r.final, r.session)) <= set("ABC") | set("the shared draft starts with this sentence. ")


@pytest.mark.parametrize("params, message", [
    ({"delete_share": 0.7, "jump_share": 0.5}, "delete_share + jump_share=1.2 must be at most 1"),
    ({"editors": 4}, "editors=4 must be an integer between 2 and 3"),
    ({"strategy": "ot"}, "strategy='ot' must be one of crdt, pycrdt, lww, central"),
    ({"duration_ms": 300_000.0, "keys_per_s": 20.0}, "keystrokes + sync rounds = 27000 is more than"),
    ({"faults": "e0|e9@0-10"}, "unknown node or region 'e9'"),
])
def test_bad_parameters_are_refused_in_one_line(params, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        simulate("document", 0, **params)


def test_same_seed_same_run_in_other_processes():
    # Sets of characters are everywhere in this scenario; none may leak string-hash order into a run.
    import os
    import subprocess
    import sys
    code = ("from consistency_lab import simulate; "
            "print([(simulate('document', 7, strategy=s, duration_ms=4000.0, partitions_per_min=6.0).trace_digest, "
            "simulate('document', 7, strategy=s, duration_ms=4000.0, partitions_per_min=6.0).metrics['tickets']) "
            "for s in ('crdt', 'pycrdt', 'lww', 'central')])")
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(h)}).stdout for h in (1, 2)}
    assert len(outs) == 1
