"""Anomaly definitions on hand-made sessions, and the claim check over the anomaly table."""

import math

import pytest

from consistency_lab.scenarios.document_anomalies import count_anomalies, edit_status
from consistency_lab.scenarios.document_editors import Edit
from consistency_lab.scenarios.document_study import anomaly_table, claim_check

INF = math.inf


def _seen(*maps):
    return [dict(m) for m in maps]


def test_a_typed_character_missing_untold_is_lost_and_a_deleted_one_back_is_revived():
    edits = [Edit(1, 0, "ins", "a"), Edit(2, 0, "ins", "b"), Edit(3, 1, "ins", "c"), Edit(4, 1, "del", "x")]
    assert edit_status(edits, (), "xc") == ["lost", "lost", "ok", "lost"]
    an = count_anomalies(edits, "xc", {"a": 0, "b": 0, "c": 1}, _seen({"a": 1, "b": 2}, {"c": 3}))
    assert (an.lost_chars, an.revived_chars, an.lost_edits) == (2, 1, 3)
    # Editor 0's two consecutive lost edits are one incident; editor 1's revived delete is another.
    assert an.silent_overwrites == 2 and an.strict_tickets == 2


def test_a_character_someone_deleted_is_not_lost():
    edits = [Edit(1, 0, "ins", "a"), Edit(2, 1, "del", "a")]
    assert count_anomalies(edits, "", {"a": 0}, _seen({"a": 1}, {"a": 1.5})).lost_edits == 0


def test_refused_edits_are_a_conflict_not_a_silent_loss():
    edits = [Edit(1, 0, "ins", "a", True), Edit(2, 0, "ins", "b", True), Edit(3, 0, "ins", "c")]
    an = count_anomalies(edits, "c", {"a": 0, "b": 0, "c": 0}, _seen({}), refused={(0, 1), (0, 2)}, conflicts=1)
    assert (an.conflicts, an.refused_edits, an.lost_edits, an.silent_overwrites) == (1, 2, 0, 0)
    assert an.tickets == an.strict_tickets == 1


def test_a_merge_spot_needs_two_authors_typing_without_seeing_each_other():
    edits = [Edit(1, 0, "ins", "a"), Edit(1, 1, "ins", "b")]
    authors = {"a": 0, "b": 1}
    concurrent = _seen({"a": 1, "b": 5}, {"b": 1, "a": 5})
    assert count_anomalies(edits, "ab", authors, concurrent).merge_spots == 1
    b_saw_a_first = _seen({"a": 1, "b": 5}, {"a": 0.5, "b": 1})
    assert count_anomalies(edits, "ab", authors, b_saw_a_first).merge_spots == 0
    assert count_anomalies(edits, "ab", authors, concurrent).strict_tickets == 0


def test_typing_into_text_someone_deleted_unseen_is_an_orphan():
    # Editor 1 deletes "p" at t=2 before it has seen "q", which editor 0 typed right after "p" at t=1.
    edits = [Edit(1, 0, "ins", "q", anchor="p"), Edit(2, 1, "del", "p")]
    assert count_anomalies(edits, "q", {"q": 0}, _seen({"p": 0, "q": 1}, {"p": 0, "q": 3})).orphans == 1
    saw_it = _seen({"p": 0, "q": 1}, {"p": 0, "q": 1.5})
    assert count_anomalies(edits, "q", {"q": 0}, saw_it).orphans == 0


def test_claim_check_reports_the_reduction_and_where_there_is_nothing_to_reduce():
    rows = [{"strategy": s, "partitions_per_min": r, "keys_per_s": 1.0, "tickets": t}
            for s, r, t in [("central", 0.0, 0.0), ("crdt", 0.0, 0.0), ("central", 2.0, 4.0), ("crdt", 2.0, 1.0),
                            ("central", 6.0, 4.0), ("crdt", 6.0, 2.0)]]
    out = {c["partitions_per_min"]: c for c in claim_check(rows)}
    assert out[0.0]["reduction"] is None and out[0.0]["holds"] is None
    assert out[2.0]["reduction"] == 0.75 and out[2.0]["holds"] is True
    assert out[6.0]["reduction"] == 0.5 and out[6.0]["holds"] is False
    with pytest.raises(ValueError, match="kind='bugs' must be one of"):
        claim_check(rows, kind="bugs")


def test_the_anomaly_table_on_identical_sessions():
    rows = anomaly_table(seeds=[0, 1], partitions_per_min=(0.0, 6.0), keys_per_s=(4.0,),
                         strategies=("crdt", "lww", "central"), duration_ms=8_000.0)
    by = {(r["strategy"], r["partitions_per_min"]): r for r in rows}
    assert len(rows) == 6 and all(r["sessions"] == 2 and r["converged_share"] == 1.0 for r in rows)
    assert all(by[("crdt", p)]["strict_tickets"] == 0 for p in (0.0, 6.0))
    assert by[("central", 0.0)]["conflicts"] == 0 < by[("central", 6.0)]["conflicts"]
    assert all(by[("lww", p)]["lost_chars"] > 0 for p in (0.0, 6.0))
    assert by[("crdt", 0.0)]["typed_chars"] == by[("lww", 0.0)]["typed_chars"]  # same intentions
