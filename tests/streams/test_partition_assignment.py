"""assign_partitions: the pure round-robin behind every consumer-group rebalance."""

import random
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consistency_lab.sim import Simulation
from consistency_lab.streams import ConsumerGroup, EventLog
from consistency_lab.streams.consumer import assign_partitions


class Nothing:
    """A handler that ignores every event."""

    def handle(self, event):
        return None


def test_partitions_are_dealt_round_robin_over_members_in_name_order():
    assert assign_partitions(["b", "a", "c"], range(7)) == {"a": [0, 3, 6], "b": [1, 4], "c": [2, 5]}
    assert list(assign_partitions(["b", "a", "c"], range(7))) == ["a", "b", "c"]


@given(members=st.lists(st.text(min_size=1, max_size=4), unique=True, min_size=1, max_size=12),
       partitions=st.lists(st.integers(0, 500), unique=True, max_size=60))
def test_every_partition_has_one_owner_and_loads_differ_by_at_most_one(members, partitions):
    got = assign_partitions(members, partitions)
    assert set(got) == set(members)
    owned = [p for ps in got.values() for p in ps]
    assert sorted(owned) == sorted(partitions)  # each partition exactly once
    loads = [len(ps) for ps in got.values()]
    assert max(loads) - min(loads) <= 1


@given(members=st.lists(st.text(min_size=1, max_size=4), unique=True, min_size=1, max_size=12),
       partitions=st.lists(st.integers(0, 500), unique=True, max_size=60), seed=st.integers(0, 2**32))
def test_the_order_inputs_come_in_does_not_matter_and_each_list_is_ascending(members, partitions, seed):
    rng = random.Random(seed)
    shuffled_members, shuffled_partitions = list(members), list(partitions)
    rng.shuffle(shuffled_members)
    rng.shuffle(shuffled_partitions)
    first = assign_partitions(members, partitions)
    again = assign_partitions(shuffled_members, shuffled_partitions)
    assert again == first
    assert list(again) == sorted(members)  # members in name order
    assert all(ps == sorted(ps) for ps in again.values())


def test_edge_cases_no_members_no_partitions_more_members_than_partitions():
    assert assign_partitions([], [0, 1, 2]) == {}
    assert assign_partitions(["x", "y"], []) == {"x": [], "y": []}
    assert assign_partitions(["m3", "m1", "m2"], [5]) == {"m1": [5], "m2": [], "m3": []}


def test_inputs_are_left_alone_and_duplicates_are_refused():
    members, partitions = ["b", "a"], [3, 1, 2]
    assign_partitions(members, partitions)
    assert members == ["b", "a"] and partitions == [3, 1, 2]
    with pytest.raises(ValueError, match=re.escape("members=['a', 'a'] must be distinct names")):
        assign_partitions(["a", "a"], [0])
    with pytest.raises(ValueError, match=re.escape("partitions=[1, 1] must be distinct partition numbers")):
        assign_partitions(["a"], [1, 1])


def test_a_fresh_group_owns_exactly_what_assign_partitions_says():
    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("t", 7)
    group = ConsumerGroup(sim, log, "t", Nothing(), consumers=["c", "a", "b"])
    expected = assign_partitions(["c", "a", "b"], range(7))
    assert {name: sorted(ps) for name, ps in group.assignment().items()} == expected


@pytest.mark.parametrize(("kwargs", "message"), [
    # Types are checked before values are compared: no TypeError from "5" >= 0.
    ({"retry_backoff_ms": "5"}, "retry_backoff_ms='5' must be a finite number >= 0 ms"),
    ({"poll_interval_ms": float("inf")}, "poll_interval_ms=inf must be a finite number >= 0 ms"),
    ({"restart_after_ms": -1}, "restart_after_ms=-1 must be a finite number >= 0 ms"),
    ({"crash_before_commit": "0.1"}, "crash_before_commit='0.1' must be a probability between 0 and 1"),
    ({"commit_every": 2.0}, "commit_every=2.0 must be an integer >= 1"),
    ({"max_attempts": True}, "max_attempts=True must be an integer >= 1"),
    ({"group_id": ""}, "group_id='' must be a non-empty string"),
])
def test_group_parameters_are_checked_by_the_shared_validators(kwargs, message):
    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("t", 2)
    with pytest.raises(ValueError, match=re.escape(message)):
        ConsumerGroup(sim, log, "t", Nothing(), **kwargs)


def test_a_crash_with_a_bad_restart_delay_is_refused_clearly():
    sim = Simulation(0)
    log = EventLog(sim)
    log.create_topic("t", 2)
    group = ConsumerGroup(sim, log, "t", Nothing(), consumers=2)
    with pytest.raises(ValueError, match=re.escape("restart_after_ms='soon' must be a finite number >= 0 ms")):
        group.crash("group-0", "soon")
