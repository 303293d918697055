"""The browser test's cleanup: stopping `make lab` leaves no process behind, even ones in their own group."""

import os
import subprocess
import sys
import time

from .lab_server import _descendants, _start_time, stop_process_tree

# A parent that starts two children: one in its process group, one in a new session (as kernels do),
# and one that ignores SIGTERM; then it waits.
TREE = """
import os, signal, subprocess, sys, time
sleeper = [sys.executable, "-c", "import time; time.sleep(120)"]
stubborn = [sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)"]
subprocess.Popen(sleeper)
subprocess.Popen(sleeper, start_new_session=True)
subprocess.Popen(stubborn, start_new_session=True)
print("ready", flush=True)
time.sleep(120)
"""


def test_stop_process_tree_kills_the_group_and_detached_descendants():
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    try:
        assert parent.stdout.readline().strip() == "ready"
        children = _descendants(parent.pid)
        assert len(children) == 3
        assert len({os.getpgid(pid) for pid, _ in children}) == 3  # two left the parent's group
    finally:
        stop_process_tree(parent)
    alive = _alive(children)
    deadline = time.monotonic() + 5
    while alive and time.monotonic() < deadline:  # SIGKILL is delivered asynchronously
        time.sleep(0.05)
        alive = _alive(children)
    assert parent.poll() is not None and alive == []


def _alive(processes):
    """Those still running; a zombie (killed, not yet reaped by init) counts as stopped."""
    return [pid for pid, started in processes if _start_time(pid) == started and _state(pid) != "Z"]


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
