"""The thread harness of every last-seat race on a real database (SQLite, PostgreSQL).

Buyers are shuffled with a seed and served by ``threads`` workers, each holding its own
connection.  Every worker connects first and then waits at a barrier, so all of them
start buying at the same moment: that is what makes the race show up every time.  The
harness knows nothing about SQL; a race supplies ``connect()`` and ``buy(conn, buyer,
worker)``.  An error in any worker stops the others and is raised in the caller's thread.
"""

from __future__ import annotations

import math
import queue
import random
import threading
import time
from typing import Any, Callable

__all__ = ["serve_buyers"]


def serve_buyers(buyers: int, threads: int, seed: int, connect: Callable[[], Any],
                 buy: Callable[[Any, int, int], None], *, timeout_s: float = math.inf,
                 name: str = "race") -> float:
    """Serve buyers ``0..buyers-1`` (in seeded order) from ``threads`` workers; return the race's wall time (ms).

    ``timeout_s`` bounds the whole race: workers take no new buyer after it, and a race
    that leaves buyers unserved or threads running raises ``TimeoutError``.
    """
    order = list(range(buyers))
    random.Random(seed).shuffle(order)
    work: queue.SimpleQueue[int] = queue.SimpleQueue()
    for b in order:
        work.put(b)
    start = threading.Barrier(threads + 1)
    errors: list[BaseException] = []
    deadline = time.monotonic() + timeout_s

    def worker(index: int) -> None:
        conn = None
        try:
            conn = connect()
            start.wait()
            while time.monotonic() < deadline:
                try:
                    buyer = work.get_nowait()
                except queue.Empty:
                    return
                buy(conn, buyer, index)
        except threading.BrokenBarrierError:
            return
        except BaseException as exc:  # surfaced in the caller's thread below
            errors.append(exc)
            start.abort()
        finally:
            if conn is not None:
                conn.close()

    pool = [threading.Thread(target=worker, args=(i,), name=f"{name}-{i}", daemon=True) for i in range(threads)]
    for t in pool:
        t.start()
    try:
        start.wait(timeout=None if math.isinf(timeout_s) else timeout_s)
    except threading.BrokenBarrierError:
        pass
    began = time.perf_counter()
    for t in pool:
        # Each statement has its own timeout in the races, so a thread ends soon after the deadline.
        t.join(None if math.isinf(timeout_s) else max(0.0, deadline - time.monotonic()) + timeout_s)
    elapsed_ms = (time.perf_counter() - began) * 1000.0
    if errors:
        raise errors[0]
    if any(t.is_alive() for t in pool):
        raise TimeoutError(f"the race did not finish within {2 * timeout_s:g} s (timeout_s={timeout_s:g})")
    if not work.empty():
        raise TimeoutError(f"the race ran out of time (timeout_s={timeout_s:g}) before every buyer was served")
    return elapsed_ms
