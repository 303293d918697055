"""Network faults and node semantics, on tiny hand-built clusters."""

from dataclasses import dataclass

import pytest

from consistency_lab import Message, Network, NetworkOptions, Node, Request, Reply, Simulation


@dataclass(frozen=True)
class Ping(Message):
    n: int


@dataclass(frozen=True)
class Ask(Request):
    pass


@dataclass(frozen=True)
class Answer(Reply):
    pass


class Recorder(Node):
    def init_volatile(self):
        self.got = []

    def on_Ping(self, msg, src):
        self.got.append((self.sim.now, msg.n))

    def on_Ask(self, msg, src):
        self.reply(src, msg, Answer)


def cluster(seed=0, **opts):
    sim = Simulation(seed)
    net = Network(sim, NetworkOptions(**opts))
    a = Recorder("a", sim, net, region="A")
    b = Recorder("b", sim, net, region="B")
    return sim, net, a, b


def test_constant_latency_delivery():
    sim, net, a, b = cluster(latency=5)
    a.send("b", Ping(1))
    sim.run()
    assert b.got == [(5.0, 1)]


def test_loss_drops_roughly_the_given_share():
    sim, net, a, b = cluster(loss=0.3)
    for i in range(2000):
        a.send("b", Ping(i))
    sim.run()
    assert 0.25 < 1 - len(b.got) / 2000 < 0.35
    assert net.dropped == 2000 - len(b.got)


def test_duplicates_are_delivered_twice_and_traced():
    sim, net, a, b = cluster(duplicate=1.0)
    a.send("b", Ping(1))
    sim.run()
    assert [n for _, n in b.got] == [1, 1]
    assert [e.kind for e in sim.trace].count("duplicate") == 1


def test_reorder_changes_arrival_order():
    sim, net, a, b = cluster(latency=1, reorder=0.5, reorder_delay="exp:20")
    for i in range(50):
        a.send("b", Ping(i))
    sim.run()
    order = [n for _, n in b.got]
    assert sorted(order) == list(range(50)) and order != list(range(50))


def test_symmetric_partition_then_heal():
    sim, net, a, b = cluster(latency=1)
    net.apply("A|B@10-20")
    for t in (5, 15, 25):
        sim.schedule(t, a.send, "b", Ping(t))
        sim.schedule(t, b.send, "a", Ping(t))
    sim.run()
    assert [n for _, n in b.got] == [5, 25]
    assert [n for _, n in a.got] == [5, 25]
    kinds = [e.kind for e in sim.trace]
    assert "partition" in kinds and "heal" in kinds


def test_message_in_flight_when_partition_starts_is_dropped():
    sim, net, a, b = cluster(latency=10)
    a.send("b", Ping(1))
    sim.schedule(5, net.partition, ["a"], ["b"])
    sim.run()
    assert b.got == []


def test_one_way_partition_blocks_one_direction():
    sim, net, a, b = cluster(latency=1)
    net.apply("A>B@0-100")
    sim.schedule(1, a.send, "b", Ping(1))
    sim.schedule(1, b.send, "a", Ping(2))
    sim.run()
    assert b.got == [] and [n for _, n in a.got] == [2]


def test_clog_holds_then_delivers():
    sim, net, a, b = cluster(latency=1)
    net.apply("a~b@0-50")
    sim.schedule(10, a.send, "b", Ping(1))
    sim.run()
    assert b.got == [(51.0, 1)]


def test_crash_loses_volatile_state_and_messages_restart_resumes():
    sim, net, a, b = cluster(latency=1)
    net.apply("crash:b@10-30")
    for t in (5, 20, 40):
        sim.schedule(t, a.send, "b", Ping(t))
    sim.run()
    # Volatile `got` was reset on restart; the message sent during the crash is gone.
    assert [n for _, n in b.got] == [40]


def test_timers_of_a_crashed_node_never_fire():
    sim, net, a, b = cluster()
    fired = []
    b.set_timer(20, fired.append, 1)
    sim.schedule(10, b.crash)
    sim.schedule(15, b.restart)
    sim.run()
    assert fired == []


def test_request_reply_and_timeout():
    sim, net, a, b = cluster(latency=5)
    out = []
    a.request("b", Ask(sim.next_id()), 100, lambda r, s: out.append(("reply", sim.now)), lambda: out.append("to"))
    net.apply("A|B@20-")
    sim.schedule(30, a.request, "b", Ask(sim.next_id()), 50, lambda r, s: out.append("late"),
                 lambda: out.append(("timeout", sim.now)))
    sim.run()
    assert out == [("reply", 10.0), ("timeout", 80.0)]


def test_bad_inputs_are_named():
    sim = Simulation(0)
    with pytest.raises(ValueError, match="loss"):
        NetworkOptions(loss=1.5)
    with pytest.raises(ValueError, match="duplicate"):
        NetworkOptions(duplicate=-0.1)
    net = Network(sim)
    Recorder("a", sim, net)
    with pytest.raises(ValueError, match="already used"):
        Recorder("a", sim, net)
    with pytest.raises(ValueError, match="node name"):
        Recorder("bad name", sim, net)
    with pytest.raises(ValueError, match="unknown node or region"):
        net.apply("a|zz@0-10")
    with pytest.raises(ValueError, match="timeout"):
        net.nodes["a"].request("a", Ask(1), 0, print)


def test_link_latency_overrides_the_default_and_can_reach_follows_partitions():
    sim, net, a, b = cluster(latency=5)
    net.set_link_latency("a", "b", 50, both_ways=False)
    a.send("b", Ping(1))
    b.send("a", Ping(2))
    sim.run()
    assert b.got == [(50.0, 1)] and a.got == [(5.0, 2)]
    assert net.can_reach("a", "b")
    net.partition(["a"], ["b"], one_way=True)
    assert not net.can_reach("a", "b") and net.can_reach("b", "a")


# -- fault-injection defects found by trying the simulator as a student would -------------

def test_a_duplicate_is_held_by_a_clog_like_its_original():
    sim, net, a, b = cluster(latency=5, duplicate=1.0)
    net.clog("a", "b", until=100.0)
    a.send("b", Ping(1))
    sim.run()
    assert [t for t, _ in b.got] == [105.0, 105.0]


def test_a_duplicate_can_be_reordered_like_its_original():
    # With reorder=1 every copy gets the extra hold; before the fix the copy skipped it.
    from consistency_lab.latency import Constant
    sim, net, a, b = cluster(latency=5, duplicate=1.0, reorder=1.0, reorder_delay=Constant(50))
    a.send("b", Ping(1))
    sim.run()
    assert [t for t, _ in b.got] == [55.0, 55.0]


def test_region_named_clog_holds_messages_between_the_regions():
    sim, net, a, b = cluster(latency=5)
    net.apply("A~B@0-200")
    sim.schedule(10, a.send, "b", Ping(1))
    sim.schedule(10, b.send, "a", Ping(2))
    sim.run()
    assert b.got == [(205.0, 1)] and a.got == [(205.0, 2)]


def test_fault_schedules_use_absolute_virtual_time_whenever_applied():
    sim, net, a, b = cluster(latency=5)
    sim.run(until=300)
    net.apply("A|B@400-500")
    sim.schedule(50, a.send, "b", Ping(1))   # t=350: before the cut, delivered
    sim.schedule(150, a.send, "b", Ping(2))  # t=450: inside the cut, dropped
    sim.schedule(250, a.send, "b", Ping(3))  # t=550: after the heal, delivered
    sim.run()
    assert b.got == [(355.0, 1), (555.0, 3)]
    starts = [e.time for e in sim.trace if e.kind == "partition"]
    assert starts == [400.0]


def test_a_fault_already_under_way_starts_now_and_one_already_over_is_skipped():
    sim, net, a, b = cluster(latency=5)
    sim.run(until=300)
    net.apply("A|B@100-400;crash:b@0-200")
    assert [e.time for e in sim.trace if e.kind in ("partition", "crash")] == []
    sim.run(until=301)
    assert [(e.kind, e.time) for e in sim.trace if e.kind in ("partition", "crash")] == [("partition", 300.0)]
    sim.run()
    assert [e.time for e in sim.trace if e.kind == "heal"] == [400.0]


def test_send_to_an_unknown_node_fails_at_the_call():
    sim, net, a, b = cluster()
    with pytest.raises(ValueError, match=r"unknown node 'zz'; allowed: a, b"):
        a.send("zz", Ping(1))
    assert net.sent == 0


def test_a_timer_set_while_down_does_not_fire_after_the_restart():
    sim, net, a, b = cluster()
    fired = []
    a.crash()
    a.set_timer(10, fired.append, "old life")
    a.restart()
    a.set_timer(20, fired.append, "new life")
    sim.run()
    assert fired == ["new life"]


def test_a_timer_from_before_a_crash_does_not_fire_after_the_restart():
    sim, net, a, b = cluster()
    fired = []
    a.set_timer(100, fired.append, "before crash")
    sim.schedule(10, a.crash)
    sim.schedule(20, a.restart)
    sim.run()
    assert fired == []


def test_crash_of_an_unknown_node_lists_every_valid_target():
    sim, net, a, b = cluster()
    with pytest.raises(ValueError, match=r"crash of unknown node 'c9'; allowed: a, b"):
        net.apply("crash:c9@10")
