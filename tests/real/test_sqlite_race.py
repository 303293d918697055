"""The same last-seat race on real SQLite with real threads: read-then-write oversells, the others never do."""

import pytest

from consistency_lab.real.sqlite_race import STRATEGIES, SqliteRaceResult, run_sqlite_race

REPEATS = 5


def test_read_then_write_oversells_and_loses_updates():
    runs = [run_sqlite_race("read-then-write", seed=i) for i in range(REPEATS)]
    # Real threads are not deterministic; the race window makes a miss very rare,
    # and one oversold run out of five is all the lesson needs.
    assert any(r.oversold > 0 for r in runs), runs
    for r in runs:
        assert r.oversold == max(0, r.sold - r.seats)
        assert r.lost_updates == r.sold - (r.seats - r.final_remaining)
        if r.oversold:
            assert r.lost_updates > 0  # the counter no longer matches the sales table


@pytest.mark.parametrize("strategy", ["conditional-update", "immediate-transaction"])
def test_safe_strategies_never_oversell(strategy):
    for i in range(REPEATS):
        r = run_sqlite_race(strategy, seats=5, buyers=20, threads=8, seed=i)
        assert (r.sold, r.oversold, r.final_remaining, r.lost_updates) == (5, 0, 0, 0), r


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_enough_seats_for_everyone_means_no_race_to_lose(strategy):
    r = run_sqlite_race(strategy, seats=30, buyers=10, threads=4)
    if strategy != "read-then-write":
        assert (r.sold, r.final_remaining) == (10, 20)
    assert r.sold == 10 and r.oversold == 0  # every buyer gets a seat; lost updates only skew the counter


def test_a_single_thread_does_not_oversell_even_with_read_then_write():
    r = run_sqlite_race("read-then-write", seats=3, buyers=10, threads=1)
    assert (r.sold, r.oversold, r.final_remaining, r.lost_updates) == (3, 0, 0, 0)


def test_result_is_data_and_uses_the_given_file(tmp_path):
    path = tmp_path / "race.db"
    r = run_sqlite_race("conditional-update", seats=2, buyers=4, threads=2, seed=3, db_path=path)
    assert isinstance(r, SqliteRaceResult) and path.exists()
    assert r.to_json()["strategy"] == "conditional-update" and r.to_json()["seed"] == 3
    assert 0 <= r.elapsed_ms < 5000
    again = run_sqlite_race("conditional-update", seats=2, buyers=4, threads=2, db_path=str(path))
    assert again.sold == 2  # the tables are recreated, not appended to


def test_one_run_is_quick():
    for strategy in STRATEGIES:
        assert run_sqlite_race(strategy).elapsed_ms < 500


@pytest.mark.parametrize("kwargs,message", [
    ({"strategy": "optimistic"}, "strategy='optimistic' must be one of read-then-write, conditional-update, "
                                 "immediate-transaction"),
    ({"strategy": "read-then-write", "seats": 0}, "seats=0 must be an integer between 1 and 10000"),
    ({"strategy": "read-then-write", "buyers": 2.5}, "buyers=2.5 must be an integer between 1 and 10000"),
    ({"strategy": "read-then-write", "threads": 0}, "threads=0 must be an integer between 1 and 64"),
    ({"strategy": "read-then-write", "seed": -1}, "seed=-1 must be an integer >= 0"),
])
def test_bad_arguments_give_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_sqlite_race(**kwargs)
