"""Where a submission's kernel runs: a bubblewrap sandbox, or a child-subreaper grader (Linux).

Two modes, chosen once per grade run (:func:`choose`) and printed (:func:`describe`):

* ``bwrap``: every kernel starts inside ``bwrap`` with its own PID, network, IPC and UTS
  namespaces, ``--die-with-parent`` and no capabilities.  Its file system is built from a
  list: the system directories and the Python prefixes read-only, the ``consistency_lab``
  package and any checks folder read-only with every hidden-check file (``*_hidden*``,
  their ``.pyc`` too) and the solutions folder masked, a private ``/tmp``, and only the
  submission's work copy and the kernel's channel folder writable.  The repository (its
  ``solutions/`` and ``.git``), other submissions and the grader's output folder are simply
  not there.  The runner talks to the kernel over IPC sockets in the channel folder.  When
  the kernel is killed, bwrap dies and the kernel ends every process left in the namespace.
* ``subreaper``: where bubblewrap is missing or does not work.  The runner sets
  ``PR_SET_CHILD_SUBREAPER``, so whatever a kernel starts (a fork, a ``setsid`` child, a
  double-forked daemon) stays its descendant; after every kernel it kills all of them,
  found by walking ``/proc`` (:func:`kill_descendants`).  The grader is a subreaper too while
  it grades and kills any process tagged with a submission's token that outlived its runner.
  When the grader is root, each kernel starts in a private mount namespace where the same
  files as above are masked, then drops to a uid of its own (no capabilities, so it cannot
  undo the masks, read the grader's files, signal other kernels or write the course).
  Without root nothing can be masked: the mode line says so.

In both modes the hidden checks never reach the kernel's file system: the runner reads
their source and sends it inside the grading cell after the notebook has run
(``injected.py``).  Memory and CPU limits are ``RLIMIT_AS`` and ``RLIMIT_CPU`` (no cgroup),
set by :func:`enter` just before the kernel starts; ``MALLOC_ARENA_MAX=2`` keeps glibc's
per-thread arenas from reserving address space the kernel never uses.

This file also runs as a script (``python -I -S sandbox.py PLAN -- KERNEL ARGV``): the tiny
launcher between the runner and the kernel.  Keep its top level to the standard library.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Optional

__all__ = ["MODES", "TOKEN_VAR", "choose", "describe", "bwrap_works", "memory_bytes", "format_bytes",
           "hidden_paths", "kernel_command", "enter", "set_subreaper", "descendants", "kill_descendants",
           "kill_tagged", "KERNEL_UID_BASE"]

MODES = ("bwrap", "subreaper")
BWRAP_INSTALL = "apt install bubblewrap (Debian/Ubuntu) or dnf install bubblewrap (Fedora)"
#: Every kernel's environment carries the submission's token, so a survivor can be told apart.
TOKEN_VAR = "CONSISTENCY_LAB_GRADE_TOKEN"
#: Subreaper mode as root: kernel uids are this plus the runner's pid (unique while it runs).
KERNEL_UID_BASE = 3_000_000
_PR_SET_CHILD_SUBREAPER = 36
_CLONE_NEWNS = 0x00020000
_MS_RDONLY, _MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024 ** 2, "G": 1024 ** 3, "T": 1024 ** 4}
MIN_MEMORY = 256 * 1024 ** 2
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# Readable by their owner, root, which the kernel is inside bwrap when the grader runs as root.
_SYSTEM_SECRETS = ("/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-")


# --------------------------------------------------------------------------- choosing a mode

@lru_cache(maxsize=None)
def bwrap_works() -> str:
    """'' when ``bwrap`` runs a namespaced command here, else one line saying why not."""
    exe = shutil.which("bwrap")
    if exe is None:
        return f"bubblewrap (bwrap) is not installed; install it with: {BWRAP_INSTALL}"
    try:
        proc = subprocess.run([exe, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--die-with-parent",
                               "--cap-drop", "ALL", "--proc", "/proc", "--dev", "/dev", "true"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bwrap could not run ({type(exc).__name__}: {exc})"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit code {proc.returncode}"])[-1]
        return f"bwrap does not work here ({last})"
    return ""


def choose(requested: Optional[str] = None) -> str:
    """The mode to grade in: ``requested`` ('bwrap' or 'subreaper'), else bwrap when it works, else subreaper."""
    if requested in (None, "", "auto"):
        return "bwrap" if not bwrap_works() else "subreaper"
    if requested not in MODES:
        raise ValueError(f"sandbox={requested!r} must be one of the sandbox modes; allowed: auto, {', '.join(MODES)}")
    if requested == "bwrap" and bwrap_works():
        raise ValueError(f"sandbox='bwrap' cannot be used: {bwrap_works()}")
    if not sys.platform.startswith("linux"):
        raise ValueError(f"sandbox={requested!r} needs Linux (namespaces, /proc, prctl); this is {sys.platform}")
    return requested


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def describe(mode: str) -> str:
    """The line printed once per grade run."""
    if mode == "bwrap":
        return "sandbox: bubblewrap (own PID namespace, read-only course, no network)"
    if _is_root():
        return ("sandbox: subreaper (every process a kernel starts is killed with it; kernels run as their own "
                "uid with hidden checks and solutions masked; network not isolated)")
    return ("sandbox: subreaper (every process a kernel starts is killed with it; not root, so the kernel can "
            f"read the course's files, hidden checks included: {BWRAP_INSTALL})")


# --------------------------------------------------------------------------- limits

def memory_bytes(name: str, value: object) -> int:
    """'512M', '2G', '4GiB' or a number of bytes -> bytes (at least 256 MiB); ValueError otherwise."""
    match = _SIZE_RE.match(str(value)) if isinstance(value, (str, int)) and not isinstance(value, bool) else None
    size = int(float(match.group(1)) * _UNITS[match.group(2).upper()]) if match else 0
    if size < MIN_MEMORY:
        raise ValueError(f"{name}={value!r} must be a size of at least 256M (a kernel alone needs about 300 MiB "
                         "of address space); allowed: a number with K, M, G or T, like 512M or 4G")
    return size


def format_bytes(size: int) -> str:
    """4294967296 -> '4 GiB', 536870912 -> '512 MiB'."""
    for unit, factor in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2)):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {unit}"
    return f"{size / 1024 ** 2:.0f} MiB"


# --------------------------------------------------------------------------- what the kernel must not see

def hidden_paths(roots: Iterable[str]) -> list[str]:
    """Every hidden-check file under ``roots`` (``*_hidden*``: sources, ``.pyc`` files, folders)."""
    found: list[str] = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in sorted(dirs + files):
                if "_hidden" in name:
                    found.append(os.path.join(folder, name))
            dirs[:] = [d for d in dirs if "_hidden" not in d]
    return sorted(found)


def _under(path: str, roots: Iterable[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _bwrap_binds(plan: dict) -> list[str]:
    args: list[str] = []
    bound: list[str] = []
    for d in _SYSTEM_DIRS:
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
            bound.append(d)
    args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    for d in plan["read_only"]:
        if os.path.isdir(d) and not _under(d, bound):
            args += ["--ro-bind", d, d]
            bound.append(d)
    for path in [*plan["masks"], *_SYSTEM_SECRETS]:
        if os.path.isdir(path) and not os.path.islink(path):
            args += ["--tmpfs", path, "--remount-ro", path]
        elif os.path.exists(path):
            args += ["--ro-bind", plan["empty_file"], path]
    for d in plan["writable"]:
        args += ["--bind", d, d]
    return args


def kernel_command(plan: dict, argv: list[str], connection_file: str) -> list[str]:
    """The command that starts the kernel ``argv`` under ``plan`` (built by the grader, see ``grader.py``)."""
    spec = {"memory": plan.get("memory"), "cpu_seconds": plan.get("cpu_seconds")}
    launcher = [sys.executable, "-I", "-S", os.path.abspath(__file__)]
    if plan["mode"] == "bwrap":
        # ipykernel exits when its parent looks like init; inside the namespace it always does
        # (bwrap's reaper is pid 1), and --die-with-parent already ends it with the runner.
        env = ["--setenv", "HOME", "/tmp", "--setenv", "TMPDIR", "/tmp", "--unsetenv", "JPY_PARENT_PID"]
        return ([shutil.which("bwrap") or "bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts",
                 "--die-with-parent", "--new-session", "--cap-drop", "ALL", *_bwrap_binds(plan), *env,
                 "--chdir", plan["work"], "--", *launcher, json.dumps(spec), "--", *argv])
    if plan.get("uid") is not None:
        spec.update(uid=plan["uid"], chown=[*plan["writable"], connection_file], masks=plan["masks"],
                    empty_file=plan["empty_file"], empty_dir=plan["empty_dir"],
                    needed=sorted({*plan["read_only"], os.path.dirname(sys.executable),
                                   os.path.dirname(os.path.realpath(sys.executable))}))
    return [*launcher, json.dumps(spec), "--", *argv]


# --------------------------------------------------------------------------- the launcher

def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(libc: ctypes.CDLL, src: Optional[str], target: str, flags: int, fstype: Optional[str] = None,
           data: Optional[str] = None) -> None:
    if libc.mount(src.encode() if src else None, target.encode(), fstype.encode() if fstype else None,
                  ctypes.c_ulong(flags), data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {src} on {target}: {os.strerror(err)}")


def _blocker(path: str) -> Optional[str]:
    """The first folder above ``path`` that other users may not enter (``/root``, 0700), if any."""
    parts = Path(path).parts
    for i in range(2, len(parts)):
        folder = os.path.join(*parts[:i])
        if not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def _reach(libc: ctypes.CDLL, needed: Iterable[str]) -> None:
    """Let the kernel's uid reach ``needed`` folders below a private one (a Python under ``/root``).

    In our mount namespace the private folder is covered by an empty tmpfs, and each needed
    folder is bound back at its own path: the rest of that folder stays out of sight.
    """
    groups: dict[str, list[str]] = {}
    for path in needed:
        blocker = _blocker(path) if os.path.exists(path) else None
        if blocker:
            groups.setdefault(blocker, []).append(path)
    for blocker, paths in groups.items():
        fds = [os.open(p, os.O_PATH) for p in paths]  # still reachable after the tmpfs covers them
        _mount(libc, "tmpfs", blocker, 0, "tmpfs", "mode=755")
        for path, fd in zip(paths, fds):
            os.makedirs(path, exist_ok=True)
            _mount(libc, f"/proc/self/fd/{fd}", path, _MS_BIND | _MS_REC)
            os.close(fd)


def _mask_and_drop(spec: dict) -> None:
    """Subreaper mode as root: a private mount namespace with the masks, then the kernel's own uid."""
    uid = int(spec["uid"])
    for path in spec["chown"]:
        targets = [path]
        if os.path.isdir(path):
            for folder, dirs, files in os.walk(path):
                targets += [os.path.join(folder, name) for name in dirs + files]
        for target in targets:
            os.lchown(target, uid, uid)
    libc = _libc()
    if libc.unshare(_CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS) failed")
    _mount(libc, None, "/", _MS_REC | _MS_PRIVATE)  # our masks must not leak back to the host
    _reach(libc, spec["needed"])
    for path in spec["masks"]:
        if not os.path.lexists(path):
            continue
        src = spec["empty_dir"] if os.path.isdir(path) else spec["empty_file"]
        _mount(libc, src, path, _MS_BIND)
        _mount(libc, None, path, _MS_REMOUNT | _MS_BIND | _MS_RDONLY)
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)  # every capability goes with uid 0: the masks cannot be unmounted any more


def enter(argv: list[str]) -> None:
    """The launcher: ``PLAN -- KERNEL ARGV``; apply the plan (masks, uid, limits) and exec the kernel."""
    import resource

    split = argv.index("--")
    spec, command = json.loads(argv[split - 1]), argv[split + 1:]
    if spec.get("uid") is not None:
        _mask_and_drop(spec)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a kernel stopped by SIGXCPU leaves no core file
    if spec.get("memory"):
        resource.setrlimit(resource.RLIMIT_AS, (int(spec["memory"]), int(spec["memory"])))
    if spec.get("cpu_seconds"):
        soft = int(spec["cpu_seconds"])
        resource.setrlimit(resource.RLIMIT_CPU, (soft, soft + 5))  # SIGXCPU at the soft limit ends the kernel
    os.execv(command[0], command)


# --------------------------------------------------------------------------- processes

def set_subreaper(on: bool = True) -> bool:
    """Make this process a child subreaper (orphans of its descendants reparent to it); False where impossible."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        return _libc().prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """pid -> parent pid, from /proc (processes that vanish while we read are skipped; empty without /proc)."""
    table: dict[int, int] = {}
    for entry in os.listdir("/proc") if os.path.isdir("/proc/self") else []:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2:].split()
        table[int(entry)] = int(fields[1])
    return table


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...), whatever session or group they are in."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents().items():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _reap(pids: Iterable[int]) -> None:
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except OSError:
            pass  # not our child (another subreaper, or already reaped)


def _kill_until_gone(find_alive: Callable[[], list[int]], rounds: int,
                     after_round: Optional[Callable[[], None]] = None) -> set[int]:
    """SIGKILL what ``find_alive`` returns, round after round (new forks appear), until it returns nothing."""
    killed: set[int] = set()
    for _ in range(rounds):
        alive = find_alive()
        if not alive:
            break
        for p in alive:
            try:
                os.kill(p, signal.SIGKILL)
                killed.add(p)
            except OSError:
                pass
        time.sleep(0.01)
        if after_round is not None:
            after_round()
    return killed


def kill_descendants(pid: int, rounds: int = 50) -> int:
    """SIGKILL every descendant of ``pid`` until none is left (new forks included); return how many were killed.

    Call it from ``pid`` itself or its parent while ``pid`` is a subreaper: orphans of the
    killed processes then reparent to it and show up in the next round.
    """
    ours = pid == os.getpid()
    reap = (lambda: _reap(descendants(pid))) if ours else None
    killed = _kill_until_gone(lambda: [p for p in descendants(pid) if not _is_zombie(p)], rounds, reap)
    if ours:
        _reap(descendants(pid))
    return len(killed)


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return True
    return stat[stat.rfind(b")") + 2:].split()[0] in (b"Z", b"X")


def kill_tagged(token: str, rounds: int = 50) -> int:
    """SIGKILL every live process whose environment carries ``TOKEN_VAR=token``; reap those that are our children."""
    needle = f"{TOKEN_VAR}={token}".encode()

    def tagged() -> list[int]:
        alive = []
        for entry in os.listdir("/proc") if os.path.isdir("/proc/self") else []:
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if needle in fh.read().split(b"\0") and not _is_zombie(int(entry)):
                        alive.append(int(entry))
            except OSError:
                continue
        return alive

    killed = _kill_until_gone(tagged, rounds)
    _reap(killed)
    return len(killed)


if __name__ == "__main__":
    enter(sys.argv[1:])
