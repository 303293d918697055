"""The CMS: live locked edits make editors wait for each other; drafts with a strong publish do not."""

import pytest

from consistency_lab import simulate

SHORT = dict(duration_ms=30_000.0)


def test_lock_wait_grows_with_editors_when_every_save_is_live():
    waits = [simulate("cms", seed=1, mode="locked", editors=n, **SHORT).metrics["save_wait_p99_ms"]
             for n in (1, 8, 24)]
    assert waits[0] == 0.0 < waits[1] < waits[2]
    assert waits[2] > 10 * 250.0  # many saves queued behind each other for the site lock


def test_locked_saves_are_capped_by_the_site_lock():
    r = simulate("cms", seed=1, mode="locked", editors=24, **SHORT)
    m = r.metrics
    # One save at a time for save_ms each: at most 30 s / 250 ms = 120 saves get their locks within
    # the 30 s, however many editors wait (the queue left at the end drains afterwards).
    granted = [start + wait for start, wait, outcome in r.saves if outcome == "ok"]
    assert sum(t < 30_000.0 for t in granted) <= 120
    assert len(granted) == m["saves"]
    drafts = simulate("cms", seed=1, mode="drafts", editors=24, **SHORT).metrics
    assert drafts["saves"] > 1.5 * m["saves"]


def test_drafts_take_no_lock_per_save_and_publish_one_at_a_time():
    m = simulate("cms", seed=1, mode="drafts", editors=24, **SHORT).metrics
    assert m["save_wait_p99_ms"] == 0.0 and m["failed_saves"] == 0
    assert m["publishes"] > 0 and m["publish_wait_p99_ms"] > 0
    assert m["max_live_writers"] == 1


def test_publish_conflicts_come_from_concurrent_editors_of_one_page():
    alone = simulate("cms", seed=2, mode="drafts", editors=1, **SHORT).metrics
    crowded = simulate("cms", seed=2, mode="drafts", editors=16, pages=3, **SHORT).metrics
    spread = simulate("cms", seed=2, mode="drafts", editors=16, pages=2000, **SHORT).metrics
    assert alone["publish_conflicts"] == 0
    assert crowded["publish_conflicts"] > spread["publish_conflicts"]
    assert crowded["publish_conflicts"] <= crowded["publishes"]


def test_the_live_site_never_has_two_writers_in_either_mode():
    for mode in ("locked", "drafts"):
        for seed in range(3):
            assert simulate("cms", seed=seed, mode=mode, editors=30, **SHORT).metrics["max_live_writers"] == 1


def test_a_short_lock_timeout_fails_saves():
    m = simulate("cms", seed=1, mode="locked", editors=24, lock_timeout_ms=500.0, **SHORT).metrics
    assert m["failed_saves"] > 0
    # Each of the two lock requests (page, then site) gives up after 500 ms.
    assert m["save_wait_max_ms"] <= 2 * 500.0 + 1e-9


def test_deterministic_and_bad_input():
    a, b = (simulate("cms", seed=4, editors=10, **SHORT) for _ in range(2))
    assert a.trace_digest == b.trace_digest and a.metrics == b.metrics and a.saves == b.saves
    with pytest.raises(ValueError, match="mode"):
        simulate("cms", mode="optimistic")
