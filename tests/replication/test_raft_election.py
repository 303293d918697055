"""The Figure 16 experiment: timings that must hold in any correct run, and the lesson of the panels."""

import math

import pytest

from consistency_lab.scenarios.raft_election import downtime_summary, election_trial, election_trials

MIN_ONE_WAY_MS = 5.0  # the experiment's latency is uniform on 5-10 ms


def test_a_trial_is_deterministic():
    assert election_trial(3, (150, 300)) == election_trial(3, (150, 300))


def test_downtime_has_the_floor_the_synchronised_heartbeat_sets_and_only_eligible_servers_win():
    trials = election_trials(1, (150, 300), 25)
    assert all(math.isfinite(t.downtime_ms) for t in trials)
    # The last broadcast lands >= 5 ms after the crash, timers then run >= 150 ms, and a
    # vote needs a request and a reply: nobody can lead sooner.
    assert min(t.downtime_ms for t in trials) >= 150 + 3 * MIN_ONE_WAY_MS
    for t in trials:
        winner, others = t.logs[0], t.logs[1:]
        # The up-to-date rule: the winner's log is at least as long as those of two voters,
        # so the two servers that got the fewest of the last entries never win.
        assert sum(1 for n in others if n <= winner) >= 2
        assert winner >= sorted(t.logs)[2]


def test_more_randomness_shortens_the_tail_and_shorter_timeouts_the_median():
    narrow = downtime_summary(election_trials(2, (150, 155), 30))
    wide = downtime_summary(election_trials(2, (150, 300), 30))
    short = downtime_summary(election_trials(2, (25, 50), 30))
    assert narrow["worst_ms"] > 2 * wide["worst_ms"]
    assert short["median_ms"] < wide["median_ms"] / 2


def test_exact_equal_timeouts_never_break_the_tie():
    trials = election_trials(1, (150, 150), 3, max_wait_ms=3000)
    assert [t.downtime_ms for t in trials] == [math.inf] * 3


def test_bad_arguments_are_refused_with_one_line():
    with pytest.raises(ValueError, match="election_timeout_max_ms=100 must be >= election_timeout_min_ms=150"):
        election_trial(1, (150, 100))
    with pytest.raises(ValueError, match="trials=0"):
        election_trials(1, (150, 300), 0)
