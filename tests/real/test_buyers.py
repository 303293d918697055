"""The thread harness shared by the SQLite and PostgreSQL races."""

import threading
import time

import pytest

from consistency_lab.real.buyers import serve_buyers


class Conn:
    def __init__(self, log):
        self.log = log

    def close(self):
        self.log.append("closed")


def test_every_buyer_is_served_once_in_a_seeded_order_and_connections_close():
    served, log = [], []
    lock = threading.Lock()

    def buy(conn, buyer, worker):
        with lock:
            served.append(buyer)

    serve_buyers(30, 4, 7, lambda: Conn(log), buy)
    assert sorted(served) == list(range(30)) and log.count("closed") == 4
    one_thread = []
    serve_buyers(30, 1, 7, lambda: Conn([]), lambda c, b, w: one_thread.append(b))
    again = []
    serve_buyers(30, 1, 7, lambda: Conn([]), lambda c, b, w: again.append(b))
    assert one_thread == again != list(range(30))  # the seed fixes the order, and it is shuffled


def test_workers_start_buying_together():
    started = []

    def connect():
        time.sleep(0.05)  # slow connections: nobody may buy before every worker is connected
        started.append(time.monotonic())
        return Conn([])

    first_buy = []
    serve_buyers(4, 4, 0, connect, lambda c, b, w: first_buy.append(time.monotonic()))
    assert min(first_buy) >= max(started)


def test_an_error_in_a_worker_is_raised_in_the_caller():
    def buy(conn, buyer, worker):
        if buyer == 3:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        serve_buyers(10, 2, 0, lambda: Conn([]), buy)


def test_a_race_that_runs_out_of_time_says_so():
    with pytest.raises(TimeoutError, match=r"ran out of time \(timeout_s=0.2\)"):
        serve_buyers(50, 1, 0, lambda: Conn([]), lambda c, b, w: time.sleep(0.05), timeout_s=0.2)
