"""Start the real `make lab` on a free loopback port, isolated from the user's Jupyter state, and stop all of it.

``make lab`` runs in its own process group (``start_new_session``); kernels that JupyterLab starts
put themselves in groups of their own, so :meth:`LabServer.stop` also finds every descendant
process through ``/proc`` and kills those, whatever state the test left them in.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_time(pid: int) -> Optional[int]:
    """When ``pid`` started (clock ticks since boot), or None if it is gone: tells a process from a reused pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[19])


def _descendants(pid: int) -> list[tuple[int, int]]:
    """Every live process below ``pid`` as (pid, start time), read from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name (field 2) may contain spaces; the parent pid is the second field after ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            started = _start_time(child)
            if started is not None:
                found.append((child, started))
                todo.append(child)
    return found


def _kill(pid: int, started: int, sig: int) -> None:
    """Send ``sig`` to ``pid`` only if it is still the process that started at ``started``."""
    if _start_time(pid) == started:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stop_process_tree(process: subprocess.Popen) -> None:
    """Stop ``process`` (started with ``start_new_session=True``), its process group and all its descendants.

    SIGTERM first, so JupyterLab can shut its kernels down; after 15 s SIGKILL for whatever is left.
    Descendants are matched by pid *and* start time, so a pid the system has since reused is left alone.
    """
    doomed = _descendants(process.pid) if process.poll() is None else []
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    for pid, started in doomed:  # kernels run in process groups of their own
        _kill(pid, started, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    try:  # whatever is left of the group, including a server that ignored SIGTERM
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid, started in doomed:
        _kill(pid, started, signal.SIGKILL)
    process.wait(timeout=15)


class LabServer:
    """``make lab`` with a random token on a free port; user settings, workspaces and runtime files in ``state_dir``."""

    def __init__(self, state_dir: Path, extra_args: str = "") -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.state_dir = state_dir
        self.log_path = state_dir / "make-lab.log"
        env = dict(os.environ)
        # The user's own Jupyter settings, workspaces and kernels must neither leak into the test
        # nor be changed by it.
        for name, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                          ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
            (state_dir / sub).mkdir(parents=True, exist_ok=True)
            env[name] = str(state_dir / sub)
        env.pop("JUPYTER_TOKEN", None)
        args = (f"--no-browser --ip=127.0.0.1 --port={self.port} --ServerApp.port_retries=0 "
                f"--IdentityProvider.token={self.token} {extra_args}")
        self.command = ["make", "--no-print-directory", "lab", f"WORKSPACES={state_dir / 'workspaces'}",
                        f"JUPYTER_ARGS={args}"]
        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=env, stdout=self._log,
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def log(self) -> str:
        """Everything `make lab` printed so far."""
        return self.log_path.read_text(errors="replace")

    def url(self, path: str) -> str:
        """An absolute URL on this server."""
        return self.base_url + path

    def api(self, path: str, method: str = "GET", timeout: float = 10.0) -> Any:
        """Call the server's REST API with the token; the decoded JSON reply (None when empty)."""
        request = urllib.request.Request(self.url(path), method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as reply:
            body = reply.read()
        return json.loads(body) if body else None

    def wait_ready(self, timeout: float = 90.0) -> None:
        """Return once the server answers; raise with the server's log if it exits or stays silent."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"`make lab` exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                self.api("/api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.25)
        raise RuntimeError(f"`make lab` did not answer within {timeout:.0f} s:\n{self.log()[-3000:]}")

    def shutdown_kernels(self) -> None:
        """Shut down every kernel the server runs (frees the two cores between notebooks)."""
        for kernel in self.api("/api/kernels") or []:
            try:
                self.api(f"/api/kernels/{kernel['id']}", method="DELETE", timeout=20)
            except OSError:
                pass

    def stop(self) -> None:
        """Kill `make lab`, its process group and every process below it (kernels included)."""
        stop_process_tree(self.process)
        self._log.close()

    def __enter__(self) -> "LabServer":
        return self

    def __exit__(self, *exc: Optional[BaseException]) -> None:
        self.stop()
