"""One Jepsen-style experiment on a real etcd cluster: workload, nemesis, history, verdict.

``run_etcd_experiment(read_mode, nemesis, members, clients, keys, seconds, seed)`` starts a
cluster (``etcd_cluster.py``), runs the client threads (``etcd_workload.py``) for ``seconds``
of wall time while a nemesis thread applies its schedule, stops every process (also on
errors) and returns an :class:`EtcdRun`: the operations, the model to check them with
(``cas-kv``: one compare-and-set register per key), the faults as they happened, and counts.

Nemesis schedules, as fractions of the run (``T = seconds``):

* ``none``: no faults.
* ``isolate-member``: a follower (chosen by ``seed``) is cut off from its peers, both ways,
  from 0.2 T to 0.8 T.  Clients 0, 2, 4, ... read from it (serializable reads are served
  from its local, no longer updated state); every client writes through the other members.
* ``kill-leader``: the leader is killed (``kill -9``) at 0.2 T and restarted at 0.45 T;
  the new leader is killed at 0.55 T and restarted at 0.8 T.
* ``pause-member``: the leader is paused (SIGSTOP) at 0.2 T and resumed at 0.6 T.
* ``partition``: the leader (with one follower when there are five) is cut from the
  majority, both ways, from 0.2 T to 0.75 T.
* ``mixed``: three windows (0.1–0.3, 0.35–0.55, 0.6–0.85 T), each with one fault drawn by
  ``seed`` from: isolate a follower, kill and restart the leader, pause and resume the
  leader, partition the leader away, cut the leader's messages to its followers one way.

Members are started with ``--unsafe-no-fsync``: a ``kill -9`` still loses nothing (the data
is in the kernel's page cache), only a machine crash would, and the runs are far faster.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Dict, List, Optional, Tuple

from consistency_lab.check import CheckResult, Model, Operation, cas_kv_model, check_operations, write_edn

from ..metrics import stale_reads
from ..validation import choice, count, number, positive
from .etcd_cluster import MEMBER_COUNTS, EtcdCluster, EtcdStartError, etcd_availability, etcd_cluster
from .etcd_workload import READ_MODES, WorkloadConfig, run_workload

__all__ = ["EtcdRun", "run_etcd_experiment", "etcd_availability", "NEMESES", "READ_MODES"]

NEMESES = ("none", "isolate-member", "kill-leader", "pause-member", "partition", "mixed")
MAX_SECONDS = 120.0
_OP_TIMEOUT_S = 1.0


@dataclass
class EtcdRun:
    """What one experiment produced: the history, how to check it, the faults, counts and timing."""

    operations: List[Operation]
    model: Model
    faults: List[Tuple[float, str]]
    read_mode: str
    nemesis: str
    members: int
    counts: Dict[str, Dict[str, int]]
    clients: int = 0
    keys: int = 0
    seconds: float = 0.0
    seed: int = 0
    wall_s: float = 0.0
    notes: List[str] = field(default_factory=list)  # nemesis steps that could not be applied
    client_members: List[str] = field(default_factory=list)  # where client i writes (and cas)
    read_members: List[str] = field(default_factory=list)  # where client i reads

    def member_of(self, op: Operation) -> str:
        """The member that served ``op`` (processes are numbered Jepsen's way: client + k * clients)."""
        client = int(op.client_id) % self.clients
        return (self.read_members if op.input[0] == "read" else self.client_members)[client]

    def check(self, timeout: float = 10.0) -> CheckResult:
        """Linearizability of the operations under the cas-kv model (one register per key)."""
        return check_operations(self.model, self.operations, timeout=timeout)

    def stale_reads(self) -> List[Operation]:
        """Reads that returned a value provably overwritten before they began (no search needed)."""
        stale: List[Operation] = []
        for key in sorted({op.input[1] for op in self.operations}, key=str):
            # As a plain register: a swapping cas is a write of its new value, a failed one changed nothing.
            origin: Dict[int, Operation] = {}  # id of the register operation -> the keyed one
            flat: List[Operation] = []
            for op in self.operations:
                if op.input[1] != key or (op.input[0] == "cas" and op.output is False):
                    continue
                if op.input[0] == "read":
                    inp = ("read", None)
                else:
                    inp = ("write", op.input[2][1] if op.input[0] == "cas" else op.input[2])
                flat.append(Operation(op.client_id, inp, op.call, op.output, op.return_time, op.status))
                origin[id(flat[-1])] = op
            stale += [origin[id(op)] for op in stale_reads(flat)]
        return sorted(stale, key=lambda op: op.call)

    def save_edn(self, path: str | Path | IO[str]) -> None:
        """Write the history as Jepsen EDN (``:time`` in ns, ``:key`` on every operation)."""
        write_edn(self.operations, path)


class _Nemesis:
    """Applies a schedule of (fraction of the run, action) on the cluster, recording what happened."""

    def __init__(self, cluster: EtcdCluster, start: float, seconds: float) -> None:
        self.cluster = cluster
        self.start = start
        self.seconds = seconds
        self.faults: List[Tuple[float, str]] = []
        self.notes: List[str] = []
        self.stopping = threading.Event()

    def at(self, fraction: float) -> bool:
        """Sleep until ``fraction`` of the run; False when the run is being stopped."""
        wait = self.start + fraction * self.seconds - time.monotonic()
        return not self.stopping.wait(max(0.0, wait))

    def record(self, text: str) -> None:
        self.faults.append((round((time.monotonic() - self.start) * 1000.0, 3), text))

    def follower(self, rng: random.Random) -> Optional[str]:
        leader = self.cluster.leader()
        followers = [n for n in self.cluster.names if n != leader and self.cluster.members[n].running]
        return rng.choice(followers) if followers else None

    def leader(self) -> Optional[str]:
        name = self.cluster.leader()
        if name is None:
            try:
                name = self.cluster.wait_for_leader(3.0)
            except EtcdStartError:
                self.notes.append(f"no leader at {round((time.monotonic() - self.start) * 1000.0)} ms")
        return name

    # one fault = (begin at, end at); each returns once the fault is over
    def isolate(self, name: Optional[str], begin: float, end: float) -> None:
        if name is None or not self.at(begin):
            return
        self.cluster.isolate(name)
        self.record(f"isolated {name} from its peers")
        self.at(end)
        self.cluster.heal()
        self.record(f"healed {name}'s links")

    def kill_leader(self, begin: float, end: float) -> None:
        if not self.at(begin):
            return
        name = self.leader()
        if name is None:
            return
        self.cluster.kill(name)
        self.record(f"killed leader {name} (kill -9)")
        self.at(end)
        try:
            self.cluster.restart(name)
            self.record(f"restarted {name}")
        except EtcdStartError as exc:
            self.notes.append(str(exc))

    def pause_leader(self, begin: float, end: float) -> None:
        if not self.at(begin):
            return
        name = self.leader()
        if name is None:
            return
        self.cluster.pause(name)
        self.record(f"paused leader {name} (SIGSTOP)")
        self.at(end)
        self.cluster.resume(name)
        self.record(f"resumed {name} (SIGCONT)")

    def partition_leader(self, begin: float, end: float, one_way: bool = False) -> None:
        if not self.at(begin):
            return
        name = self.leader()
        if name is None:
            return
        others = [n for n in self.cluster.names if n != name]
        minority = [name] + others[: (len(self.cluster.names) - 1) // 2 - 1]
        majority = [n for n in self.cluster.names if n not in minority]
        self.cluster.partition(minority, majority, one_way=one_way)
        arrow = "->" if one_way else "|"
        what = "cut messages one way" if one_way else "partitioned"
        self.record(f"{what} {{{', '.join(minority)}}} {arrow} {{{', '.join(majority)}}}")
        self.at(end)
        self.cluster.heal()
        self.record("healed the partition")


def _schedule(nemesis: str, target: Optional[str], seed: int) -> List[Callable[[_Nemesis], None]]:
    """The nemesis's steps, each a call on :class:`_Nemesis` (run one after another by one thread)."""
    if nemesis == "none":
        return []
    if nemesis == "isolate-member":
        return [lambda n: n.isolate(target, 0.2, 0.8)]
    if nemesis == "kill-leader":
        return [lambda n: n.kill_leader(0.2, 0.45), lambda n: n.kill_leader(0.55, 0.8)]
    if nemesis == "pause-member":
        return [lambda n: n.pause_leader(0.2, 0.6)]
    if nemesis == "partition":
        return [lambda n: n.partition_leader(0.2, 0.75)]
    rng = random.Random(f"{seed}/nemesis")
    steps: List[Callable[[_Nemesis], None]] = []
    for begin, end in ((0.1, 0.3), (0.35, 0.55), (0.6, 0.85)):
        kind = rng.choice(("isolate", "kill", "pause", "partition", "one-way"))
        if kind == "isolate":
            pick = random.Random(f"{seed}/nemesis/{begin}")
            steps.append(lambda n, b=begin, e=end, r=pick: n.isolate(n.follower(r), b, e))
        elif kind == "kill":
            steps.append(lambda n, b=begin, e=end: n.kill_leader(b, e))
        elif kind == "pause":
            steps.append(lambda n, b=begin, e=end: n.pause_leader(b, e))
        else:
            steps.append(lambda n, b=begin, e=end, w=(kind == "one-way"): n.partition_leader(b, e, one_way=w))
    return steps


def _validate(read_mode: str, nemesis: str, members: int, clients: int, keys: int, seconds: float,
              seed: int) -> None:
    choice("read_mode", read_mode, READ_MODES)
    choice("nemesis", nemesis, NEMESES)
    choice("members", members, MEMBER_COUNTS)
    count("clients", clients, 1, 32)
    count("keys", keys, 1, 100)
    positive("seconds", seconds, "s")
    number("seconds", seconds, high=MAX_SECONDS, unit="s")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed={seed!r} must be an int")


def run_etcd_experiment(read_mode: str = "linearizable", nemesis: str = "isolate-member", members: int = 3,
                        clients: int = 4, keys: int = 2, seconds: float = 6.0, seed: int = 0) -> EtcdRun:
    """Start a cluster, run the workload for ``seconds`` with the nemesis, stop everything, return the run.

    Bad arguments raise a one-line ``ValueError``; without etcd, ``RuntimeError(etcd_availability())``.
    """
    _validate(read_mode, nemesis, members, clients, keys, seconds, seed)
    problem = etcd_availability()
    if problem is not None:
        raise RuntimeError(problem)
    wall = time.monotonic()
    with etcd_cluster(members) as cluster:
        leader = cluster.leader()
        followers = [n for n in cluster.names if n != leader]
        target = random.Random(f"{seed}/target").choice(followers) if nemesis == "isolate-member" else None
        if target is None:
            client_members = [cluster.names[i % members] for i in range(clients)]
            read_members = list(client_members)
        else:
            # Writes go to the members that stay connected; every other client reads from the
            # member that will be cut off (client 0 first), the rest from their own member.
            rest = [n for n in cluster.names if n != target]
            client_members = [rest[i % len(rest)] for i in range(clients)]
            read_members = [target if i % 2 == 0 else client_members[i] for i in range(clients)]
        config = WorkloadConfig([cluster.members[n].client_port for n in client_members], keys, float(seconds), seed,
                                read_mode, op_timeout_s=_OP_TIMEOUT_S,
                                read_ports=[cluster.members[n].client_port for n in read_members])
        start = time.monotonic()
        nem = _Nemesis(cluster, start, float(seconds))
        steps = _schedule(nemesis, target, seed)
        thread = threading.Thread(target=lambda: [step(nem) for step in steps], daemon=True, name="etcd-nemesis")
        thread.start()
        try:
            ops, counts = run_workload(config, start)
        finally:
            nem.stopping.set()  # cut every remaining wait short; heals and restarts still run
            thread.join(30.0)
    return EtcdRun(operations=ops, model=cas_kv_model(), faults=list(nem.faults), read_mode=read_mode,
                   nemesis=nemesis, members=members, counts=counts, clients=clients, keys=keys,
                   seconds=float(seconds), seed=seed, wall_s=round(time.monotonic() - wall, 3), notes=nem.notes,
                   client_members=client_members, read_members=read_members)
