"""Containment that holds, in both sandbox modes: nothing a submission starts outlives its kernel,
the hidden checks cannot be read or changed from the kernel, the grader's files are written once
after every kernel is gone, and a kernel over the memory limit is stopped with the reason given.

One grading run per mode (``--jobs 2``) is shared by the tests of that mode.
"""

import csv
import glob
import hashlib
import io
import os
import re
import shutil
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import hostile_submissions as hostile
import lab99_submissions as base
import pytest
from optional_tools import require

from consistency_lab.cli import main
from consistency_lab.grading import sandbox

PARTS = ["q1_add_check", "q2_dedupe_check", "q3_counter_check"]
MEMORY = "1G"  # the bombs allocate 2 GiB
CPU_SECONDS = "4"  # every other kernel here needs one or two


def run_cli(args):
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def secret_digests() -> dict:
    """The fixture lab's secrets (the course's own hidden checks and solutions change as people work)."""
    return {p: hashlib.sha256(open(p, "rb").read()).hexdigest()
            for pattern in hostile.secret_files() for p in glob.glob(pattern) if p.startswith(str(hostile.FIXTURES))}


def living(names: set) -> list:
    """Processes alive now whose name is one of ``names``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/comm") as fh:
                comm = fh.read().strip()
            with open(f"/proc/{entry}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if comm in names and state not in ("Z", "X"):
            found.append((int(entry), comm))
    return found


@pytest.fixture(scope="module", params=["bwrap", "subreaper"])
def graded(request, tmp_path_factory):
    """One grading run of every hostile notebook in one mode, and what was left three seconds later."""
    mode = request.param
    if mode == "bwrap":
        require(not sandbox.bwrap_works(), "bubblewrap (bwrap) that can create namespaces", sandbox.BWRAP_INSTALL)
    base_dir = tmp_path_factory.mktemp(f"sandbox-{mode}")
    subs, out = base_dir / "subs", base_dir / "out"
    for kind in hostile.ESCAPES:
        base.write(subs, f"escape_{kind}", hostile.escape(kind, mode, out, f"escape_{kind}"))
    base.write(subs, "reads_hidden", hostile.reads_hidden())
    base.write(subs, "memory_cell", hostile.memory_cell())
    base.write(subs, "memory_check", hostile.memory_check())
    base.write(subs, "cpu_spin", hostile.cpu_spin())
    secrets_before = secret_digests()
    code, stdout, stderr = run_cli(["grade", str(subs), "--out", str(out), "--solutions", str(base.SOLUTION.parent),
                                    "--jobs", "2", "--timeout", "60", "--sandbox", mode, "--memory", MEMORY,
                                    "--cpu-seconds", CPU_SECONDS])
    files = [out / "grades.csv"] + sorted((out / "feedback").glob("*.md"))
    written = {str(p): digest(p) for p in files}
    time.sleep(3.0)  # the escapees act a second after the files appear
    with open(out / "grades.csv", newline="") as fh:
        rows = {row["student"]: row for row in csv.DictReader(fh)}
    return {"mode": mode, "code": code, "stdout": stdout, "stderr": stderr, "out": out, "rows": rows,
            "written": written, "later": {str(p): digest(p) for p in files},
            "leftovers": sorted(p.name for p in out.rglob("*") if p.name.startswith("escaped-")),
            "alive": living({hostile.mark(kind, mode) for kind in hostile.ESCAPES}),
            "secrets_before": secrets_before, "secrets_after": secret_digests(),
            "feedback": {p.stem: p.read_text() for p in (out / "feedback").glob("*.md")}}


def test_the_mode_is_printed_once(graded):
    assert graded["code"] == 0, graded["stderr"]
    lines = [line for line in graded["stderr"].splitlines() if line.startswith("sandbox: ")]
    assert lines == [sandbox.describe(graded["mode"])]
    assert lines[0].startswith({"bwrap": "sandbox: bubblewrap (own PID namespace", "subreaper": "sandbox: subreaper ("}
                               [graded["mode"]])


@pytest.mark.parametrize("kind", hostile.ESCAPES)
def test_no_process_a_submission_starts_survives(graded, kind):
    assert not [p for p in graded["alive"] if p[1] == hostile.mark(kind, graded["mode"])], graded["alive"]
    assert f"escaped-{hostile.mark(kind, graded['mode'])}" not in graded["leftovers"]
    row = graded["rows"][f"escape_{kind}"]
    assert row["total"] == "100" and row["status"] == "ok", row  # its code is the solution: it earns full marks


def test_grader_files_are_written_once_and_stay_unchanged(graded):
    assert graded["later"] == graded["written"]
    header = (graded["out"] / "grades.csv").read_text().splitlines()[0].split(",")
    assert header == ["student", "lab", *PARTS, "total", "max_total", "status"]  # not the fake written mid-run
    assert set(graded["rows"]) == {"escape_fork", "escape_setsid", "escape_daemon", "reads_hidden", "memory_cell",
                                   "memory_check", "cpu_spin"}


def test_hidden_checks_and_solutions_cannot_be_read_copied_or_changed(graded):
    if graded["mode"] == "subreaper":  # without root there is no mount namespace and no other uid
        require(os.geteuid() == 0, "root for the subreaper mode's masks", "run the grader as root, or use bwrap")
    row = graded["rows"]["reads_hidden"]
    assert row["q1_add_check"] == "20", graded["feedback"]["reads_hidden"]  # add() asserts it read nothing
    assert row["total"] == "100", row
    assert graded["secrets_after"] == graded["secrets_before"]
    assert any(p.endswith("lab99_checks_hidden.py") for p in graded["secrets_before"])
    assert "(hidden check)" in graded["feedback"]["reads_hidden"]  # the hidden checks did run


def test_a_cell_over_the_memory_limit_is_stopped_with_the_reason(graded):
    row = graded["rows"]["memory_cell"]
    assert tuple(int(row[p]) for p in PARTS) == (20, 0, 30), row
    assert re.match(r"^memory limit 1 GiB exceeded in cell 7 \(skipped\)$", row["status"]), row["status"]
    assert "Cell 7 went over the memory limit 1 GiB" in graded["feedback"]["memory_cell"]


def test_a_check_over_the_memory_limit_fails_its_part_with_the_reason(graded):
    row = graded["rows"]["memory_check"]
    assert tuple(int(row[p]) for p in PARTS) == (20, 50, 0), row
    assert "memory limit 1 GiB exceeded (your code raised MemoryError" in graded["feedback"]["memory_check"]


def test_a_kernel_over_the_cpu_limit_is_stopped_with_the_reason(graded):
    row = graded["rows"]["cpu_spin"]
    assert tuple(int(row[p]) for p in PARTS) == (20, 50, 0), row
    assert row["status"] == "CPU limit 4 s exceeded in cell 10 (skipped)", row["status"]
    assert "Cell 10 went over the CPU limit 4 s" in graded["feedback"]["cpu_spin"]


def test_memory_sizes():
    assert sandbox.memory_bytes("memory", "512M") == 512 * 1024 ** 2
    assert sandbox.memory_bytes("memory", "2G") == 2 * 1024 ** 3
    assert sandbox.memory_bytes("memory", "4GiB") == 4 * 1024 ** 3
    assert sandbox.format_bytes(512 * 1024 ** 2) == "512 MiB"
    for bad in ["12Q", "100M", "", "-1G"]:
        with pytest.raises(ValueError, match=r"^memory=.* must be a size of at least 256M.*; allowed: "):
            sandbox.memory_bytes("memory", bad)


def test_sandbox_choice_errors(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match=r"^sandbox='docker' must be .*; allowed: auto, bwrap, subreaper$"):
        sandbox.choose("docker")
    monkeypatch.setattr(sandbox, "bwrap_works", lambda: "bubblewrap (bwrap) is not installed; install it with: x")
    with pytest.raises(ValueError, match=r"^sandbox='bwrap' cannot be used: .*install it with"):
        sandbox.choose("bwrap")
    assert sandbox.choose(None) == "subreaper"
    (tmp_path / "s").mkdir()
    shutil.copy(base.SOLUTION, tmp_path / "s")
    code, _, err = run_cli(["grade", str(tmp_path / "s"), "--out", str(tmp_path / "o"), "--sandbox", "bwrap",
                            "--solutions", str(base.SOLUTION.parent)])
    assert code == 2 and "grade: sandbox='bwrap' cannot be used" in err and "install it with" in err
    with pytest.raises(SystemExit):
        run_cli(["grade", str(tmp_path), "--out", "o", "--sandbox", "docker"])


_SUBREAPER = """
import os, sys, time
sys.path.insert(0, sys.argv[1])
import sandbox
assert sandbox.set_subreaper()
first = os.fork()
if first == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(60)
    os._exit(0)
os.waitpid(first, 0)
print("ready", flush=True)
time.sleep(60)
"""


def test_kill_descendants_finds_a_daemon_that_left_its_session(tmp_path):
    """A double-forked daemon in its own session is still below a subreaper, and killed from there."""
    import subprocess
    import sys

    helper = subprocess.Popen([sys.executable, "-c", _SUBREAPER, str(Path(sandbox.__file__).parent)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert helper.stdout.readline().strip() == "ready"
        below = sandbox.descendants(helper.pid)
        assert len(below) == 1 and os.getsid(below[0]) != os.getsid(helper.pid)
        assert sandbox.kill_descendants(helper.pid) == 1
        assert sandbox.descendants(helper.pid) in ([], below)  # killed; a zombie until the helper reaps it
        with open(f"/proc/{below[0]}/stat") as fh:
            assert fh.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    finally:
        helper.kill()
        helper.wait()


def test_hidden_paths_include_compiled_files(tmp_path):
    (tmp_path / "labs" / "__pycache__").mkdir(parents=True)
    for name in ["labs/lab07.py", "labs/lab07_hidden.py", "labs/__pycache__/lab07_hidden.cpython-311.pyc",
                 "labs/__pycache__/lab07.cpython-311.pyc"]:
        (tmp_path / name).write_text("x")
    labs = tmp_path / "labs"
    assert sandbox.hidden_paths([str(tmp_path)]) == [str(labs / "__pycache__" / "lab07_hidden.cpython-311.pyc"),
                                                     str(labs / "lab07_hidden.py")]


def test_hidden_checks_installed_from_source_keep_their_source_lines(tmp_path):
    """The kernel gets the hidden module as text: tracebacks and inspect.getsource still find its lines."""
    import inspect
    import sys

    from consistency_lab.grading.injected import _install_hidden

    name, path = "zz_sandbox_probe_hidden", str(tmp_path / "masked" / "zz_sandbox_probe_hidden.py")  # no such file
    try:
        _install_hidden(name, "def probe(ns):\n    assert ns == 1, 'probe failed'\n", path)
        probe = sys.modules[name].probe
        assert inspect.getsource(probe).startswith("def probe(ns):")
        with pytest.raises(AssertionError, match="probe failed"):
            probe(0)
        with pytest.raises(SyntaxError):
            _install_hidden(name + "_bad", "def broken(:\n", path + "x")
        assert name + "_bad" not in sys.modules
    finally:
        sys.modules.pop(name, None)
