"""A real deadlock on PostgreSQL, and its detector at work.

Two transactions, ``first`` and ``second``, update rows 1 and 2 of a two-row table in
opposite order::

    first:  BEGIN; UPDATE row 1            ... UPDATE row 2  (waits for second)
    second: BEGIN; UPDATE row 2                               ... UPDATE row 1  (waits for first)

Once ``first`` waits, a third connection reads ``pg_locks`` (the ungranted lock, its
mode, and ``pg_blocking_pids``) so the wait is seen from outside, as an operator would.
Then ``second`` closes the cycle.  Neither can proceed; a backend that has waited longer
than ``deadlock_timeout`` runs PostgreSQL's deadlock detector, which finds the cycle and
aborts one transaction with SQLSTATE 40P01 (``deadlock_detected``).  The other one's
``UPDATE`` then goes through and it commits.

Which one is the victim is the server's choice (usually the one whose timer runs out
first while the cycle stands), so the result records it instead of fixing it.  The
victim has always waited at least ``deadlock_timeout``: that is the price of checking
for deadlocks lazily, and why the demo sets it low (100 ms instead of the default 1 s).
Real threads and wall-clock time; every wait is bounded by ``lock_timeout`` and
``statement_timeout`` (``timeout_s``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

from ..validation import count, positive
from ._session import check_server, connect, psycopg_module
from .postgres import PostgresServer

__all__ = ["LockWait", "DeadlockResult", "run_pg_deadlock", "DEADLOCK_DETECTED"]

#: SQLSTATE of "deadlock detected": the victim transaction was rolled back.
DEADLOCK_DETECTED = "40P01"
_POLL_S = 0.002


@dataclass(frozen=True)
class LockWait:
    """One ungranted lock as ``pg_locks`` showed it: who waits, for what, behind whom."""

    waiter: str
    pid: int
    locktype: str
    mode: str
    blocked_by: tuple[str, ...]


@dataclass(frozen=True)
class DeadlockResult:
    """What the deadlock run saw: the lock wait, the victim, its SQLSTATE and how long it waited."""

    deadlock_timeout_ms: int
    lock_waits: tuple[LockWait, ...]
    victim: str
    victim_sqlstate: str
    victim_message: str
    victim_wait_ms: float
    survivor: str
    final_rows: tuple[tuple[int, int], ...]
    elapsed_ms: float

    def to_json(self) -> dict:
        """A JSON-ready dict of every field."""
        out = dict(self.__dict__)
        out["lock_waits"] = [dict(w.__dict__) for w in self.lock_waits]
        return out


class _Blocked:
    """Runs one blocking statement in a thread and records its outcome and duration."""

    def __init__(self, conn: Any, sql: str, params: tuple) -> None:
        self.error: Optional[BaseException] = None
        self.wait_ms = 0.0
        self._conn, self._sql, self._params = conn, sql, params
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        began = time.perf_counter()
        try:
            self._conn.execute(self._sql, self._params)
        except BaseException as exc:  # read by the caller's thread
            self.error = exc
        self.wait_ms = (time.perf_counter() - began) * 1000.0

    def join(self, timeout_s: float) -> bool:
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


def _waits(monitor: Any, names: dict[int, str]) -> tuple[LockWait, ...]:
    rows = monitor.execute(
        "SELECT pid, locktype, mode, pg_blocking_pids(pid) FROM pg_locks WHERE NOT granted AND pid = ANY(%s) "
        "ORDER BY pid", (list(names),)).fetchall()
    return tuple(LockWait(names[pid], pid, locktype, mode, tuple(names.get(b, str(b)) for b in blockers))
                 for pid, locktype, mode, blockers in rows)


def _wait_for(monitor: Any, names: dict[int, str], waiter: str, blocked: _Blocked,
              timeout_s: float) -> tuple[LockWait, ...]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        waits = _waits(monitor, names)
        if any(w.waiter == waiter for w in waits):
            return waits
        if blocked.join(0):
            raise RuntimeError(f"{waiter}'s UPDATE finished without waiting: {blocked.error!r}")
        time.sleep(_POLL_S)
    raise TimeoutError(f"{waiter} was not seen waiting in pg_locks within {timeout_s:g} s")


def run_pg_deadlock(server: PostgresServer, deadlock_timeout_ms: int = 100, timeout_s: float = 10.0) -> DeadlockResult:
    """Make two transactions lock two rows in opposite order on ``server``; let PostgreSQL's detector break it."""
    check_server(server)
    count("deadlock_timeout_ms", deadlock_timeout_ms, 1, 10_000, "ms")
    positive("timeout_s", timeout_s, "s")
    if timeout_s * 1000 <= 2 * deadlock_timeout_ms:
        raise ValueError(f"timeout_s={timeout_s!r} must be more than 2 * deadlock_timeout_ms={deadlock_timeout_ms} ms "
                         "(else lock_timeout ends the waits before the detector runs)")
    psycopg = psycopg_module()
    conns = []
    try:
        setup = connect(server, timeout_s)
        conns.append(setup)
        setup.execute("DROP TABLE IF EXISTS deadlock_rows")
        setup.execute("CREATE TABLE deadlock_rows (id integer PRIMARY KEY, value integer NOT NULL)")
        setup.execute("INSERT INTO deadlock_rows VALUES (1, 0), (2, 0)")
        first, second = connect(server, timeout_s), connect(server, timeout_s)
        conns += [first, second]
        names = {}
        for name, conn in (("first", first), ("second", second)):
            # deadlock_timeout is per session (superuser may SET it): only these two wait for the check.
            conn.execute(f"SET deadlock_timeout = {deadlock_timeout_ms}")
            (pid,) = conn.execute("SELECT pg_backend_pid()").fetchone()
            names[pid] = name
        began = time.perf_counter()
        first.execute("BEGIN")
        first.execute("UPDATE deadlock_rows SET value = value + 1 WHERE id = 1")
        second.execute("BEGIN")
        second.execute("UPDATE deadlock_rows SET value = value + 10 WHERE id = 2")
        first_waits = _Blocked(first, "UPDATE deadlock_rows SET value = value + 1 WHERE id = %s", (2,))
        lock_waits = _wait_for(setup, names, "first", first_waits, timeout_s)
        second_waits = _Blocked(second, "UPDATE deadlock_rows SET value = value + 10 WHERE id = %s", (1,))
        if not (first_waits.join(timeout_s) and second_waits.join(timeout_s)):
            raise TimeoutError(f"the deadlock was not broken within {timeout_s:g} s")
        outcome = {"first": (first, first_waits), "second": (second, second_waits)}
        failed = [n for n, (_, b) in outcome.items() if b.error is not None]
        if len(failed) != 1:
            raise RuntimeError(f"expected exactly one aborted transaction, got {failed or 'none'}: "
                               f"{[repr(b.error) for _, b in outcome.values()]}")
        victim = failed[0]
        survivor = "second" if victim == "first" else "first"
        error = outcome[victim][1].error
        if not isinstance(error, psycopg.Error):
            raise error
        outcome[victim][0].execute("ROLLBACK")
        outcome[survivor][0].execute("COMMIT")
        elapsed_ms = (time.perf_counter() - began) * 1000.0
        rows = tuple(tuple(r) for r in setup.execute("SELECT id, value FROM deadlock_rows ORDER BY id").fetchall())
        return DeadlockResult(deadlock_timeout_ms=deadlock_timeout_ms, lock_waits=lock_waits, victim=victim,
                              victim_sqlstate=error.sqlstate or "", victim_message=str(error).splitlines()[0],
                              victim_wait_ms=outcome[victim][1].wait_ms, survivor=survivor,
                              final_rows=rows, elapsed_ms=elapsed_ms)
    finally:
        for conn in conns:
            conn.close()
