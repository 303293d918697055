"""The last-seat race on a real database: SQLite, real threads, real lost updates.

The simulator shows overselling with virtual time; this module shows the same bug
outside it.  ``threads`` worker threads, each with its own ``sqlite3`` connection to
one file database, sell seats to ``buyers`` buyers with one of three strategies:

``read-then-write``
    ``SELECT remaining``; if it is positive, pause a moment (``time.sleep(0.001)``,
    standing in for the application work between read and write), then ``UPDATE
    seats SET remaining = ?`` with the value computed in Python and ``INSERT`` a
    sale.  Each statement is its own transaction, so two threads that read the same
    count both sell "the last seat" and one decrement is lost: it oversells.
``conditional-update``
    ``UPDATE seats SET remaining = remaining - 1 WHERE remaining > 0`` and sell only
    if ``rowcount == 1``.  The check and the decrement are one atomic statement.
``immediate-transaction``
    ``BEGIN IMMEDIATE`` takes the write lock *before* reading, so the same
    read / pause / write sequence runs one buyer at a time.

**This is the one place in the package with real concurrency and wall-clock time.**
Results are measured, not simulated: ``seed`` only shuffles which buyer ids the
threads pick up, and two runs with the same arguments can differ.  The race window
(the pause, with every thread released together by a barrier) makes
``read-then-write`` oversell in practically every run with more than one thread.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

from .buyers import serve_buyers
from ..validation import choice, count

__all__ = ["SqliteRaceResult", "run_sqlite_race", "STRATEGIES"]

#: The strategies :func:`run_sqlite_race` accepts; only the first one oversells.
STRATEGIES = ("read-then-write", "conditional-update", "immediate-transaction")

_RACE_WINDOW_S = 0.001
_BUSY_TIMEOUT_S = 10.0
#: A bound on one whole race (a run takes well under a second; a hung connection must not hang a notebook).
_RACE_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class SqliteRaceResult:
    """What one real run did, read back from the database afterwards.

    ``sold`` counts rows in the sales table; ``final_remaining`` is the stored
    counter; ``lost_updates`` = sales the counter does not reflect
    (``sold - (seats - final_remaining)``), 0 for a correct strategy.
    """

    strategy: str
    seats: int
    buyers: int
    threads: int
    seed: int
    sold: int
    oversold: int
    final_remaining: int
    lost_updates: int
    elapsed_ms: float

    def to_json(self) -> dict:
        """A JSON-ready dict of every field."""
        return dict(self.__dict__)


def _connect(path: str) -> sqlite3.Connection:
    # isolation_level=None: the module issues no implicit BEGIN, so each strategy's
    # transactions are exactly the statements written below.  Each thread opens its
    # own connection, so the default check_same_thread=True holds.
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
    # With WAL, NORMAL skips the fsync per commit (still safe against a process
    # crash): commits are fast, so threads rarely sleep in SQLite's busy back-off
    # and a run stays well under a second.
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def _setup(path: str, seats: int) -> None:
    conn = _connect(path)
    try:
        # WAL lets readers run while a writer writes: the read-then-write threads
        # really do read concurrently instead of queueing on one lock.
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("DROP TABLE IF EXISTS seats")
        conn.execute("DROP TABLE IF EXISTS sales")
        conn.execute("CREATE TABLE seats (id INTEGER PRIMARY KEY, remaining INTEGER NOT NULL)")
        conn.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY AUTOINCREMENT, buyer INTEGER NOT NULL, "
                     "thread INTEGER NOT NULL)")
        conn.execute("INSERT INTO seats (id, remaining) VALUES (1, ?)", (seats,))
    finally:
        conn.close()


def _buy_read_then_write(conn: sqlite3.Connection, buyer: int, thread: int) -> bool:
    (remaining,) = conn.execute("SELECT remaining FROM seats WHERE id = 1").fetchone()
    if remaining <= 0:
        return False
    time.sleep(_RACE_WINDOW_S)  # others read the same count meanwhile
    conn.execute("UPDATE seats SET remaining = ? WHERE id = 1", (remaining - 1,))
    conn.execute("INSERT INTO sales (buyer, thread) VALUES (?, ?)", (buyer, thread))
    return True


def _buy_conditional(conn: sqlite3.Connection, buyer: int, thread: int) -> bool:
    conn.execute("BEGIN")
    try:
        cur = conn.execute("UPDATE seats SET remaining = remaining - 1 WHERE id = 1 AND remaining > 0")
        sold = cur.rowcount == 1
        if sold:
            # Same transaction: a sale row exists if and only if the decrement happened.
            conn.execute("INSERT INTO sales (buyer, thread) VALUES (?, ?)", (buyer, thread))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return sold


def _buy_immediate(conn: sqlite3.Connection, buyer: int, thread: int) -> bool:
    conn.execute("BEGIN IMMEDIATE")
    try:
        (remaining,) = conn.execute("SELECT remaining FROM seats WHERE id = 1").fetchone()
        sold = remaining > 0
        if sold:
            time.sleep(_RACE_WINDOW_S)  # the same window as read-then-write, now harmless
            conn.execute("UPDATE seats SET remaining = ? WHERE id = 1", (remaining - 1,))
            conn.execute("INSERT INTO sales (buyer, thread) VALUES (?, ?)", (buyer, thread))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return sold


_BUY = {
    "read-then-write": _buy_read_then_write,
    "conditional-update": _buy_conditional,
    "immediate-transaction": _buy_immediate,
}


def run_sqlite_race(strategy: str, seats: int = 5, buyers: int = 20, threads: int = 8, seed: int = 0,
                    db_path: Optional[Union[str, os.PathLike]] = None) -> SqliteRaceResult:
    """Race ``threads`` real threads selling ``seats`` seats to ``buyers`` buyers in SQLite; count the damage.

    ``db_path``: the database file to (re)create; by default a temporary file that
    is deleted afterwards.
    """
    choice("strategy", strategy, STRATEGIES)
    count("seats", seats, 1, 10_000)
    count("buyers", buyers, 1, 10_000)
    count("threads", threads, 1, 64)
    count("seed", seed, low=0)
    if db_path is not None and not isinstance(db_path, (str, os.PathLike)):
        raise ValueError(f"db_path={db_path!r} must be None (a temporary file) or a file path")
    if db_path is None:
        with tempfile.TemporaryDirectory(prefix="sqlite_race_") as tmp:
            return _race(strategy, seats, buyers, threads, seed, str(Path(tmp) / "tickets.db"))
    return _race(strategy, seats, buyers, threads, seed, os.fspath(db_path))


def _race(strategy: str, seats: int, buyers: int, threads: int, seed: int, path: str) -> SqliteRaceResult:
    _setup(path, seats)
    elapsed_ms = serve_buyers(buyers, threads, seed, lambda: _connect(path), _BUY[strategy],
                              timeout_s=_RACE_TIMEOUT_S, name="sqlite-race")

    conn = _connect(path)
    try:
        (sold,) = conn.execute("SELECT COUNT(*) FROM sales").fetchone()
        (remaining,) = conn.execute("SELECT remaining FROM seats WHERE id = 1").fetchone()
    finally:
        conn.close()
    return SqliteRaceResult(strategy=strategy, seats=seats, buyers=buyers, threads=threads, seed=seed,
                            sold=sold, oversold=max(0, sold - seats), final_remaining=remaining,
                            lost_updates=sold - (seats - remaining), elapsed_ms=elapsed_ms)
