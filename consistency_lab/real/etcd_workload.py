"""A Jepsen-style register workload on etcd's v3 JSON gateway, recorded as pinned ``Operation``s.

Each client thread is bound to one member (as Jepsen binds a client to a node; a client may
be given a second member for its reads) and loops until the deadline: read, write or
compare-and-set on one of a few keys, then a short think time.  What to do, on which key,
and the think times come from ``random.Random`` seeded with ``"{seed}/client{i}"``, so a seed
fixes the workload; what etcd answers does not repeat, it is a real system.

Every write and cas writes a value no other write uses (``client * 1_000_000 + n``), so a
read names exactly the write it saw, and a stale read is visible.  A cas expects the value
its client saw last on that key (a client that saw nothing on a key writes instead).

Outcomes, as the checker needs them (inputs are the ``cas-kv`` model's):

* ``("read", key, None)`` -> value (None: never written).  A read that fails, times out or
  is reset is dropped (it changed nothing), and counted as failed.
* ``("write", key, v)``, ``("cas", key, (expected, new))`` -> ``True`` / ``False``.  A
  refused connection is a definite failure (status "fail": the request was never sent).
  A timeout, a reset, or an error reply from etcd is indeterminate (status "info",
  return time inf): the write may still commit.  After an indeterminate operation the
  client continues as a new process (Jepsen's ``process + clients``), so each process has
  at most one pending operation.

Times are milliseconds since ``start`` (``time.monotonic()``), rounded to microseconds.
"""

from __future__ import annotations

import http.client
import math
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from consistency_lab.history import Operation

from .etcd_cluster import b64, gateway_post, unb64

__all__ = ["READ_MODES", "WorkloadConfig", "run_workload", "key_name", "empty_counts"]

READ_MODES = ("linearizable", "serializable")
_KINDS = ("read", "write", "cas")


def key_name(i: int) -> str:
    """The etcd key of workload key ``i``."""
    return f"k{i}"


def empty_counts() -> Dict[str, Dict[str, int]]:
    """Per kind (read, write, cas): ok / failed / indeterminate, all zero."""
    return {kind: {"ok": 0, "failed": 0, "indeterminate": 0} for kind in _KINDS}


@dataclass(frozen=True)
class WorkloadConfig:
    """What the client threads do: ports they talk to, keys, read mode, pacing and timeouts."""

    client_ports: Sequence[int]  # one gateway port per client thread: its writes and cas go there
    keys: int
    seconds: float
    seed: int
    read_mode: str = "linearizable"
    op_timeout_s: float = 1.0
    think_ms: Tuple[float, float] = (5.0, 25.0)
    mix: Tuple[float, float, float] = (0.5, 0.3, 0.2)  # read, write, cas
    read_ports: Optional[Sequence[int]] = None  # where each client reads (default: its client port)


@dataclass
class _Recorder:
    start: float
    ops: List[Operation] = field(default_factory=list)
    counts: Dict[str, Dict[str, int]] = field(default_factory=empty_counts)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now_ms(self) -> float:
        return round((time.monotonic() - self.start) * 1000.0, 3)

    def add(self, kind: str, outcome: str, op: Optional[Operation]) -> None:
        with self.lock:
            self.counts[kind][outcome] += 1
            if op is not None:
                self.ops.append(op)


class _Refused(Exception):
    """The connection was refused: the request never left this process."""


def _call(port: int, path: str, body: dict, timeout: float) -> dict:
    """One gateway request; raises _Refused, or OSError / HTTPException / _EtcdError when the outcome is unknown."""
    try:
        status, reply = gateway_post(port, path, body, timeout)
    except ConnectionRefusedError:
        raise _Refused() from None
    if status != 200 or "error" in reply:
        raise _EtcdError(str(reply.get("message") or reply.get("error") or status))
    return reply


class _EtcdError(Exception):
    """etcd answered with an error (no leader, timeout, ...)."""


def _read_body(key: str, read_mode: str) -> dict:
    body = {"key": b64(key)}
    if read_mode == "serializable":
        body["serializable"] = True  # served from the member's local state, no quorum
    return body


def _client(i: int, config: WorkloadConfig, rec: _Recorder, deadline: float) -> None:
    rng = random.Random(f"{config.seed}/client{i}")
    port = config.client_ports[i]
    read_port = config.read_ports[i] if config.read_ports is not None else port
    clients = len(config.client_ports)
    process = i
    seen: Dict[str, object] = {}
    n = 0
    while time.monotonic() < deadline:
        key = key_name(rng.randrange(config.keys))
        draw = rng.random()
        kind = "read" if draw < config.mix[0] else "write" if draw < config.mix[0] + config.mix[1] else "cas"
        if kind == "cas" and key not in seen:
            kind = "write"
        n += 1
        value = (i + 1) * 1_000_000 + n  # unique per write across the run
        call = rec.now_ms()
        try:
            if kind == "read":
                reply = _call(read_port, "/v3/kv/range", _read_body(key, config.read_mode), config.op_timeout_s)
                kvs = reply.get("kvs") or []
                result = int(unb64(kvs[0].get("value", ""))) if kvs else None
                seen[key] = result
                rec.add(kind, "ok", Operation(process, ("read", key, None), call, result, rec.now_ms()))
            elif kind == "write":
                _call(port, "/v3/kv/put", {"key": b64(key), "value": b64(str(value))}, config.op_timeout_s)
                seen[key] = value
                rec.add(kind, "ok", Operation(process, ("write", key, value), call, None, rec.now_ms()))
            else:
                expected = seen[key]
                compare = {"key": b64(key), "result": "EQUAL", "target": "VALUE", "value": b64(str(expected))}
                if expected is None:  # "never written": compare the creation revision with 0
                    compare = {"key": b64(key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}
                body = {"compare": [compare], "success": [{"request_put": {"key": b64(key), "value": b64(str(value))}}]}
                reply = _call(port, "/v3/kv/txn", body, config.op_timeout_s)
                swapped = bool(reply.get("succeeded", False))  # the gateway leaves out a false field
                if swapped:
                    seen[key] = value
                rec.add(kind, "ok", Operation(process, ("cas", key, (expected, value)), call, swapped, rec.now_ms()))
        except _Refused:
            if kind != "read":
                inp = ("write", key, value) if kind == "write" else ("cas", key, (seen[key], value))
                rec.add(kind, "failed", Operation(process, inp, call, None, rec.now_ms(), "fail"))
            else:
                rec.add(kind, "failed", None)
            time.sleep(0.05)  # the member is down: do not spin
        except (OSError, http.client.HTTPException, _EtcdError, ValueError):
            if kind == "read":
                rec.add(kind, "failed", None)  # a read that did not answer changed nothing
            else:
                inp = ("write", key, value) if kind == "write" else ("cas", key, (seen[key], value))
                rec.add(kind, "indeterminate", Operation(process, inp, call, None, math.inf, "info"))
                process += clients  # this process may still have an operation in flight
        time.sleep(rng.uniform(*config.think_ms) / 1000.0)


def run_workload(config: WorkloadConfig, start: float) -> Tuple[List[Operation], Dict[str, Dict[str, int]]]:
    """Run every client thread for ``config.seconds`` from now; returns (operations by call time, counts)."""
    rec = _Recorder(start)
    deadline = time.monotonic() + config.seconds
    threads = [threading.Thread(target=_client, args=(i, config, rec, deadline), daemon=True,
                                name=f"etcd-client-{i}") for i in range(len(config.client_ports))]
    for t in threads:
        t.start()
    for t in threads:
        # A client ends by the deadline plus one timeout and one think time; the bound only catches a hang.
        t.join(config.seconds + 4 * config.op_timeout_s + 5.0)
    with rec.lock:
        ops = sorted(rec.ops, key=lambda op: (op.call, str(op.client_id)))
        counts = {kind: dict(v) for kind, v in rec.counts.items()}
    return ops, counts
