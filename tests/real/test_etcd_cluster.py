"""A real etcd cluster: it starts, each nemesis action has the effect claimed, and no process survives."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from optional_tools import require

from consistency_lab.real.etcd_cluster import (INSTALL_HINT, EtcdCluster, b64, etcd_availability, etcd_cluster,
                                               gateway_post, unb64)


require(etcd_availability() is None, f"etcd 3.5 ({etcd_availability()})", INSTALL_HINT)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _put(cluster: EtcdCluster, name: str, key: str, value: str) -> None:
    status, reply = gateway_post(cluster.members[name].client_port, "/v3/kv/put",
                                 {"key": b64(key), "value": b64(value)}, 5.0)
    assert status == 200, reply


def _local_read(cluster: EtcdCluster, name: str, key: str) -> str | None:
    """A serializable read: what this member's own state holds, without asking the others."""
    status, reply = gateway_post(cluster.members[name].client_port, "/v3/kv/range",
                                 {"key": b64(key), "serializable": True}, 2.0)
    assert status == 200, reply
    kvs = reply.get("kvs") or []
    return unb64(kvs[0]["value"]) if kvs else None


def _eventually(predicate, timeout_s: float = 8.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture(scope="module")
def cluster():
    with etcd_cluster(3) as c:
        yield c


@pytest.fixture
def healthy(cluster):
    """The shared cluster, with every member running and every link up after the test."""
    yield cluster
    cluster.heal()
    for name in cluster.names:
        cluster.resume(name)
        if not cluster.members[name].running:
            cluster.restart(name)
    cluster.wait_for_leader(15.0)


def _follower(cluster: EtcdCluster) -> str:
    leader = cluster.wait_for_leader()
    return next(n for n in cluster.names if n != leader)


def test_three_members_agree_on_one_leader_and_replicate_writes(healthy):
    member_ids = {m.member_id for m in healthy.members.values()}

    def one_leader() -> bool:
        # Every member names the same leader, and it is one of the three (a starved machine can
        # hold an election between two status calls, hence "eventually").
        ids = {int((healthy.status(n) or {}).get("leader", 0)) for n in healthy.names}
        return len(ids) == 1 and ids <= member_ids

    assert _eventually(one_leader)
    leader = healthy.wait_for_leader()
    _put(healthy, leader, "replicated", "v1")
    for name in healthy.names:
        assert _eventually(lambda n=name: _local_read(healthy, n, "replicated") == "v1")


def test_pause_stops_a_member_answering_until_it_is_resumed(healthy):
    name = _follower(healthy)
    pid = healthy.members[name].proc.pid
    healthy.pause(name)
    assert _eventually(lambda: _state(pid) == "T", 3.0)  # the kernel delivers SIGSTOP asynchronously
    with pytest.raises(OSError):  # its port still accepts (the kernel does that) but nothing answers
        gateway_post(healthy.members[name].client_port, "/v3/maintenance/status", {}, 0.5)
    assert healthy.status(name) is None
    healthy.resume(name)
    assert _eventually(lambda: _state(pid) != "T", 3.0)
    assert _eventually(lambda: healthy.status(name) is not None)


def test_kill_ends_the_process_and_restart_brings_it_back_with_its_data(healthy):
    leader = healthy.wait_for_leader()
    _put(healthy, leader, "durable", "before-kill")
    name = next(n for n in healthy.names if n != leader)
    assert _eventually(lambda: _local_read(healthy, name, "durable") == "before-kill")
    proc = healthy.members[name].proc
    healthy.kill(name)
    assert proc.returncode == -9 and not _alive(proc.pid)
    assert healthy.status(name) is None
    healthy.restart(name)
    assert healthy.members[name].proc.pid != proc.pid
    assert _local_read(healthy, name, "durable") == "before-kill"


def test_a_member_restarted_from_a_short_lived_thread_outlives_that_thread(healthy):
    # The nemesis restarts members from its own thread; PR_SET_PDEATHSIG must not follow it.
    name = _follower(healthy)
    healthy.kill(name)
    worker = threading.Thread(target=healthy.restart, args=(name,))
    worker.start()
    worker.join()
    time.sleep(0.5)
    assert healthy.members[name].running and healthy.status(name) is not None


def test_crashing_the_leader_makes_another_member_lead(healthy):
    old = healthy.wait_for_leader()
    old_pid = healthy.members[old].proc.pid
    assert healthy.crash_leader() == old
    assert not _alive(old_pid)
    new = healthy.wait_for_leader(15.0, exclude=[old])
    assert new != old


def test_an_isolated_member_serves_stale_serializable_reads_until_healed(healthy):
    leader = healthy.wait_for_leader()
    name = next(n for n in healthy.names if n != leader)
    _put(healthy, leader, "iso", "old")
    assert _eventually(lambda: _local_read(healthy, name, "iso") == "old")
    healthy.isolate(name)
    assert not any(c.direction(healthy.links)[0] == name for c in healthy.members[leader].proxy.connections())
    _put(healthy, leader, "iso", "new")  # the other two are a majority: this commits
    time.sleep(0.5)
    assert _local_read(healthy, name, "iso") == "old"
    other = next(n for n in healthy.names if n not in (leader, name))
    assert _eventually(lambda: _local_read(healthy, other, "iso") == "new")
    healthy.heal()
    assert _eventually(lambda: _local_read(healthy, name, "iso") == "new", 15.0)


def test_a_one_way_cut_closes_only_the_connections_carrying_that_direction(healthy):
    leader = healthy.wait_for_leader()
    others = [n for n in healthy.names if n != leader]
    healthy.partition([leader], others, one_way=True)
    directions = {c.direction(healthy.links) for m in healthy.members.values() for c in m.proxy.connections()}
    assert not any(sender == leader and receiver in others for sender, receiver in directions)
    assert any(sender in others and receiver == leader for sender, receiver in directions)
    # The followers stop hearing the leader's heartbeats, so they elect one of themselves.
    assert _eventually(lambda: healthy.leader() in others, 15.0), \
        [(n, healthy.status(n), healthy.members[n].member_id) for n in healthy.names]


@pytest.mark.parametrize("ending", ["normal", "error", "interrupt"])
def test_no_process_survives_the_block(ending):
    seen: dict = {}
    raised = {"normal": None, "error": RuntimeError("boom"), "interrupt": KeyboardInterrupt()}[ending]
    try:
        with etcd_cluster(3) as c:
            seen["root"], seen["pids"] = str(c.root), c.pids()
            c.pause(c.names[0])  # a stopped process must be ended too
            assert all(_alive(pid) for pid in seen["pids"])
            if raised is not None:
                raise raised
    except (RuntimeError, KeyboardInterrupt) as exc:
        assert exc is raised
    assert len(seen["pids"]) == 3
    assert not any(_alive(pid) for pid in seen["pids"])
    assert _processes_mentioning(seen["root"]) == []
    assert not Path(seen["root"]).exists()
