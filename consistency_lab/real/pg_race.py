"""The last-seat race on a real PostgreSQL: real threads, each with its own connection.

The same story as :mod:`consistency_lab.real.sqlite_race`, on a server with real isolation
levels and row locks.  ``threads`` threads sell ``seats`` seats to ``buyers`` buyers;
each buyer is one transaction that reads the counter, pauses (``time.sleep(0.001)``,
standing in for application work) and writes, with one of four strategies:

``read-then-write`` (READ COMMITTED)
    ``SELECT remaining``; ``UPDATE seats SET remaining = <value computed in Python>``.
    Two buyers that read the same count both sell; the second ``UPDATE`` waits for the
    first one's row lock, then overwrites its decrement: oversold, updates lost.
``select-for-update`` (READ COMMITTED)
    ``SELECT remaining ... FOR UPDATE`` locks the row before reading, so the read, the
    pause and the write run one buyer at a time.
``conditional-update`` (READ COMMITTED)
    ``UPDATE ... SET remaining = remaining - 1 WHERE remaining > 0``: after waiting for a
    row lock PostgreSQL re-checks the condition on the newest row, so the check and the
    decrement are one atomic step.  No pause: there is no read to pause after.
``serializable`` (SERIALIZABLE)
    The read-then-write code unchanged, at SERIALIZABLE.  A buyer whose snapshot is older
    than another buyer's committed update of the row is refused at its ``UPDATE`` with
    SQLSTATE 40001 ("could not serialize access due to concurrent update"; REPEATABLE READ
    would refuse it too); the buyer rolls back and retries, up to ``max_retries``
    times, with a seeded random back-off.  With enough retries it sells exactly the seats
    there are; with ``max_retries=0`` the refusals show as ``gave_up``.

**Real concurrency and wall-clock time**: the counts are measured, not simulated.
``seed`` fixes the order buyers are handed out and the back-off draws; which thread wins
a row lock is the server's business, so two runs with the same arguments can differ.
Every run is bounded: ``statement_timeout`` and ``lock_timeout`` on every connection,
``max_retries`` per buyer, and ``timeout_s`` for the whole run.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from ..validation import choice, count, positive
from ._session import check_server, connect, psycopg_module
from .buyers import serve_buyers
from .postgres import PostgresServer

__all__ = ["PgRaceResult", "run_pg_race", "PG_STRATEGIES", "SERIALIZATION_FAILURE"]

#: The strategies :func:`run_pg_race` accepts; only the first one oversells.
PG_STRATEGIES = ("read-then-write", "select-for-update", "conditional-update", "serializable")
#: SQLSTATE of "could not serialize access": the transaction must be retried.
SERIALIZATION_FAILURE = "40001"

_RACE_WINDOW_S = 0.001
_BACKOFF_BASE_S = 0.001
_BACKOFF_CAP_S = 0.02
# A run takes these tables for itself; the advisory lock keeps two runs on one server apart.
_RUN_LOCK_KEY = 420_001


@dataclass(frozen=True)
class PgRaceResult:
    """What one real run did, read back from the database afterwards.

    ``sold`` counts rows in the sales table; ``lost_updates`` = sales the counter does not
    reflect (``sold - (seats - final_remaining)``); ``serialization_failures`` counts
    SQLSTATE 40001 refusals, ``retries`` the attempts they caused, ``gave_up`` the buyers
    refused more than ``max_retries`` times.
    """

    strategy: str
    seats: int
    buyers: int
    threads: int
    seed: int
    max_retries: int
    sold: int
    oversold: int
    final_remaining: int
    lost_updates: int
    serialization_failures: int
    retries: int
    gave_up: int
    elapsed_ms: float

    def to_json(self) -> dict:
        """A JSON-ready dict of every field."""
        return dict(self.__dict__)


def _sell(conn: Any, buyer: int, thread: int) -> None:
    conn.execute("INSERT INTO race_sales (buyer, thread) VALUES (%s, %s)", (buyer, thread))


def _read_then_write(conn: Any, buyer: int, thread: int, begin: str, lock: str = "") -> bool:
    conn.execute(begin)
    try:
        (remaining,) = conn.execute(f"SELECT remaining FROM race_seats WHERE id = 1{lock}").fetchone()
        sold = remaining > 0
        if sold:
            # Others read the same count meanwhile, unless the row lock (FOR UPDATE) makes them wait.
            time.sleep(_RACE_WINDOW_S)
            conn.execute("UPDATE race_seats SET remaining = %s WHERE id = 1", (remaining - 1,))
            _sell(conn, buyer, thread)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return sold


def _buy_read_then_write(conn: Any, buyer: int, thread: int) -> bool:
    return _read_then_write(conn, buyer, thread, "BEGIN ISOLATION LEVEL READ COMMITTED")


def _buy_serializable(conn: Any, buyer: int, thread: int) -> bool:
    return _read_then_write(conn, buyer, thread, "BEGIN ISOLATION LEVEL SERIALIZABLE")


def _buy_for_update(conn: Any, buyer: int, thread: int) -> bool:
    return _read_then_write(conn, buyer, thread, "BEGIN ISOLATION LEVEL READ COMMITTED", lock=" FOR UPDATE")


def _buy_conditional(conn: Any, buyer: int, thread: int) -> bool:
    conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    try:
        cur = conn.execute("UPDATE race_seats SET remaining = remaining - 1 WHERE id = 1 AND remaining > 0")
        sold = cur.rowcount == 1
        if sold:
            _sell(conn, buyer, thread)  # same transaction: a sale exists iff the decrement happened
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return sold


_BUY: dict[str, Callable[[Any, int, int], bool]] = {
    "read-then-write": _buy_read_then_write,
    "select-for-update": _buy_for_update,
    "conditional-update": _buy_conditional,
    "serializable": _buy_serializable,
}


def _setup(conn: Any, seats: int) -> None:
    conn.execute("DROP TABLE IF EXISTS race_seats, race_sales")
    conn.execute("CREATE TABLE race_seats (id integer PRIMARY KEY, remaining integer NOT NULL)")
    conn.execute("CREATE TABLE race_sales (id serial PRIMARY KEY, buyer integer NOT NULL, thread integer NOT NULL)")
    conn.execute("INSERT INTO race_seats (id, remaining) VALUES (1, %s)", (seats,))


def run_pg_race(server: PostgresServer, strategy: str, seats: int = 5, buyers: int = 20, threads: int = 8,
                seed: int = 0, max_retries: int = 50, timeout_s: float = 20.0) -> PgRaceResult:
    """Race ``threads`` real connections selling ``seats`` seats to ``buyers`` buyers on ``server``; count damage."""
    check_server(server)
    choice("strategy", strategy, PG_STRATEGIES)
    count("seats", seats, 1, 10_000)
    count("buyers", buyers, 1, 10_000)
    count("threads", threads, 1, 64)
    count("seed", seed, low=0)
    count("max_retries", max_retries, 0, 1_000)
    positive("timeout_s", timeout_s, "s")
    psycopg = psycopg_module()

    admin = connect(server, timeout_s)
    try:
        admin.execute("SELECT pg_advisory_lock(%s)", (_RUN_LOCK_KEY,))
        _setup(admin, seats)
        result = _race(server, strategy, seats, buyers, threads, seed, max_retries, timeout_s, psycopg)
        (sold,) = admin.execute("SELECT count(*) FROM race_sales").fetchone()
        (remaining,) = admin.execute("SELECT remaining FROM race_seats WHERE id = 1").fetchone()
        admin.execute("SELECT pg_advisory_unlock(%s)", (_RUN_LOCK_KEY,))
    finally:
        admin.close()
    failures, retries, gave_up, elapsed_ms = result
    return PgRaceResult(strategy=strategy, seats=seats, buyers=buyers, threads=threads, seed=seed,
                        max_retries=max_retries, sold=sold, oversold=max(0, sold - seats), final_remaining=remaining,
                        lost_updates=sold - (seats - remaining), serialization_failures=failures, retries=retries,
                        gave_up=gave_up, elapsed_ms=elapsed_ms)


def _race(server: PostgresServer, strategy: str, seats: int, buyers: int, threads: int, seed: int,
          max_retries: int, timeout_s: float, psycopg: Any) -> tuple[int, int, int, float]:
    buy = _BUY[strategy]
    lock = threading.Lock()
    tally = {"failures": 0, "retries": 0, "gave_up": 0}
    # One backoff stream per worker; str seeds are hashed with sha512, the same in every process.
    rngs: dict[int, random.Random] = {}

    def attempt(conn: Any, buyer: int, index: int) -> None:
        rng = rngs.setdefault(index, random.Random(f"{seed}/backoff/{index}"))
        for attempt_no in range(max_retries + 1):
            try:
                buy(conn, buyer, index)
                return
            except psycopg.Error as exc:
                if exc.sqlstate != SERIALIZATION_FAILURE:
                    raise
                with lock:
                    tally["failures"] += 1
                    tally["retries"] += attempt_no < max_retries
            if attempt_no < max_retries:
                # Full jitter: the refused buyers spread out instead of colliding again in step.
                time.sleep(rng.uniform(0, min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * 2 ** attempt_no)))
        with lock:
            tally["gave_up"] += 1

    elapsed_ms = serve_buyers(buyers, threads, seed, lambda: connect(server, timeout_s), attempt,
                              timeout_s=timeout_s, name="pg-race")
    return tally["failures"], tally["retries"], tally["gave_up"], elapsed_ms
