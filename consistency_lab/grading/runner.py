"""Execute one submission in fresh kernels and collect check outcomes (``python -m ...runner JOB.json``).

The grader starts one runner process per submission so it can kill it (and its kernel) when
the wall-clock limit passes.  Inside, the policy is:

* cells run one at a time, ``allow_errors`` style: an exception is noted and the next cell runs;
* a cell that kills the kernel (``os._exit``) or outlives its timeout is *fatal*: it is
  skipped, a fresh kernel starts, and every other cell runs again from the top;
* then the grader's own checks run in that kernel (see ``injected.py``); a check that kills or
  hangs the kernel fails (and the rest of its part is skipped: the part cannot score any
  more), and the remaining parts' checks continue after another fresh start;
* every fresh start makes progress (one more cell skipped or one more check decided), and
  there are at most ``max_restarts`` of them; after that, checks that never ran score nothing;
* a cell that goes over the memory limit (``MemoryError`` under ``RLIMIT_AS``) or whose
  kernel is stopped by the CPU limit is skipped like a fatal cell, with that reason.

Each kernel starts through ``sandbox.py`` (a bubblewrap sandbox, or a launcher that masks the
hidden files and drops to a uid of its own); this process is a child subreaper and kills every
process left below it after each kernel, so nothing a submission starts outlives its kernel.

Outputs are not stored (a notebook may print gigabytes); only error names and messages are.
"""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

__all__ = ["Job", "SubmissionRun", "run_job", "child_main", "main", "PRELOAD"]

#: Modules worth importing once in the grader's fork server rather than in every runner
#: (nbformat alone takes over a second to import, mostly jsonschema).
PRELOAD = ["consistency_lab.grading.runner", "nbformat", "nbclient", "jupyter_client", "zmq"]


@dataclass
class Job:
    """Everything a runner needs; written as JSON by the grader."""

    notebook: str
    workdir: str
    checks_file: str
    result_file: str
    pid_file: str
    lab: str
    checks_module: str
    parts: list[str]
    n_checks: int
    cell_timeout: float
    max_time: float
    kernel_name: str = "python3"
    max_restarts: int = 3
    package_dir: str = ""
    env: dict = field(default_factory=dict)
    sandbox: dict = field(default_factory=dict)
    hidden_source: str = ""
    hidden_file: str = ""
    memory: int = 0
    cpu_seconds: float = 0.0


@dataclass
class SubmissionRun:
    """What happened to one submission (the grader turns this into points and a status)."""

    outcomes: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    kernels: int = 0
    output_bytes: int = 0
    finished: bool = False
    fatal: str = ""
    problem: str = ""


@functools.lru_cache(maxsize=None)
def _client_class() -> type:
    from nbclient import NotebookClient

    class CappedClient(NotebookClient):
        """An nbclient that keeps only error outputs and counts the bytes of everything else."""

        output_bytes = 0

        def output(self, outs: list, msg: dict, display_id: Optional[str], cell_index: int) -> None:
            """Keep error outputs (name and message only); count the bytes of the rest and drop them."""
            content = msg.get("content", {})
            if msg.get("msg_type") == "error":
                outs.append({"output_type": "error", "ename": str(content.get("ename", ""))[:200],
                             "evalue": str(content.get("evalue", ""))[:500], "traceback": []})
            else:
                text = content.get("text") or json.dumps(content.get("data", ""))
                CappedClient.output_bytes += len(text)
            return None

    return CappedClient


@functools.lru_cache(maxsize=None)
def _manager_class(plan_json: str, number: int) -> type:
    """A kernel manager whose kernel command goes through the sandbox (``plan_json``: the job's plan)."""
    from jupyter_client.manager import AsyncKernelManager

    from . import sandbox

    plan = json.loads(plan_json)

    class SandboxedKernelManager(AsyncKernelManager):
        """Starts the kernel inside the plan's sandbox; in bwrap mode over IPC sockets (no shared network)."""

        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            chan = plan["writable"][-1]
            self.connection_file = os.path.join(chan, f"kernel-{number}.json")
            if plan["mode"] == "bwrap":
                self.transport = "ipc"
                self.ip = os.path.join(chan, f"k{number}")

        def format_kernel_cmd(self, extra_arguments: Optional[list] = None) -> list:
            """The kernelspec's command, started through the sandbox."""
            return sandbox.kernel_command(plan, super().format_kernel_cmd(extra_arguments), self.connection_file)

    return SandboxedKernelManager


class _Kernel:
    """One fresh kernel with an nbclient client, killed (not politely shut down) when done."""

    def __init__(self, job: Job, nb: Any, number: int = 1) -> None:
        import nbformat

        # nbclient writes each executed cell back into its notebook at the given index; a
        # one-slot scratch notebook keeps the submission's own cells (and our extra cell) apart.
        self.scratch = nbformat.v4.new_notebook(metadata=nb.metadata, cells=[nbformat.v4.new_code_cell("")])
        self.client = _client_class()(
            self.scratch, timeout=job.cell_timeout, allow_errors=True, kernel_name=job.kernel_name,
            shutdown_kernel="immediate", record_timing=False, startup_timeout=60,
            skip_cells_with_tag="\0never-skip",  # a fresh "Run All" in Jupyter skips nothing either
            resources={"metadata": {"path": job.workdir}})
        if job.sandbox:
            self.client.kernel_manager_class = _manager_class(json.dumps(job.sandbox, sort_keys=True), number)
        self.job = job
        self._context = None

    def __enter__(self) -> "_Kernel":
        # MALLOC_ARENA_MAX: glibc reserves 64 MiB of address space per thread otherwise, which
        # RLIMIT_AS would count although the kernel never touches it.
        env = dict(os.environ, MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1", MALLOC_ARENA_MAX="2")
        if self.job.sandbox.get("uid") is not None:  # the kernel's own uid cannot write the runner's HOME
            env["HOME"] = os.path.join(self.job.sandbox["writable"][-1], "home")
        self._context = self.client.setup_kernel(env=env)
        self._context.__enter__()
        try:
            pid = self.client.km.provisioner.process.pid
            with open(self.job.pid_file, "a", encoding="utf-8") as fh:
                fh.write(f"{pid}\n")
        except Exception:  # noqa: BLE001 - the pid only helps the outer kill; the kernel also
            pass  # exits by itself when this runner dies (ipykernel's parent poller)
        return self

    def exit_signal(self) -> int:
        """The signal that ended the kernel process (0 while it runs or when it exited by itself)."""
        try:
            code = self.client.km.provisioner.process.poll()
        except Exception:  # noqa: BLE001 - no process to ask
            return 0
        if code is None:
            return 0
        return -code if code < 0 else (code - 128 if code > 128 else 0)  # bwrap exits with 128 + signal

    def __exit__(self, *exc: Any) -> None:
        try:
            self._context.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 - a dead kernel may fail to clean up; it is gone anyway
            pass
        from .sandbox import kill_descendants

        kill_descendants(os.getpid())  # forks, setsid children and daemons of this kernel die with it


def _run_cell(kernel: _Kernel, cell: Any, timeout: float) -> tuple[str, str]:
    """('ok'|'error'|'timeout'|'died'|'memory'|'cpu', detail) for one cell."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    kernel.client.timeout = max(1, int(round(timeout)))
    kernel.scratch.cells[0] = cell
    try:
        kernel.client.execute_cell(cell, 0)
    except CellTimeoutError:
        return "timeout", ""
    except DeadKernelError:
        return _death(kernel), ""
    except Exception as exc:  # noqa: BLE001 - any other client failure leaves the kernel unusable
        return _death(kernel), f"{type(exc).__name__}: {exc}"
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if errors:
        if errors[0]["ename"] == "MemoryError" and kernel.job.memory:
            return "memory", ""
        return "error", f"{errors[0]['ename']}: {errors[0]['evalue']}".strip(": ")
    return "ok", ""


def _death(kernel: _Kernel) -> str:
    """'cpu' when the CPU limit's SIGXCPU ended the kernel, else 'died'."""
    deadline = time.monotonic() + 2
    while kernel.job.cpu_seconds and time.monotonic() < deadline:
        sig = kernel.exit_signal()
        if sig:
            return "cpu" if sig == signal.SIGXCPU else "died"
        time.sleep(0.05)
    return "died"


def _read_events(path: str, offset: int) -> tuple[list[dict], int]:
    """Complete JSON lines written after byte ``offset``, and the offset after them."""
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except OSError:
        return [], offset
    complete = data[: data.rfind(b"\n") + 1]  # a line cut short by a dying kernel is dropped
    events = []
    for line in complete.splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events, offset + len(complete)


def run_job(job: Job) -> SubmissionRun:
    """Run the submission's cells and the checks under the restart policy in the module docstring."""
    import nbformat

    result = SubmissionRun()
    deadline = time.monotonic() + job.max_time
    try:
        nb = nbformat.read(job.notebook, as_version=4)
        code_cells = [(i, str(c.get("source", ""))) for i, c in enumerate(nb.cells) if c.get("cell_type") == "code"]
    except Exception as exc:  # noqa: BLE001 - the student's file, not the grader, is broken
        result.problem = f"unreadable notebook ({type(exc).__name__}: {str(exc)[:200]})"
        return result
    events_read = 0
    skip_cells: set[int] = set()
    noted_errors: set[int] = set()
    done: dict[str, dict] = {}
    stopped_parts: list[str] = []
    CappedClient = _client_class()

    def note(kind: str, **info: Any) -> None:
        result.events.append({"kind": kind, **info})

    while True:
        if result.kernels > job.max_restarts:
            note("gave_up", kernels=result.kernels)
            break
        if time.monotonic() >= deadline:
            note("wall_clock", seconds=job.max_time)
            break
        result.kernels += 1
        restart = False
        try:
            with _Kernel(job, nb, result.kernels) as kernel:
                for index, source in code_cells:
                    if index in skip_cells:
                        continue
                    remaining = deadline - time.monotonic()
                    if remaining <= 1:
                        break
                    run_cell = nbformat.v4.new_code_cell(source)
                    status, detail = _run_cell(kernel, run_cell, min(job.cell_timeout, remaining))
                    if status == "error" and index not in noted_errors:
                        noted_errors.add(index)
                        note("error", cell=index + 1, detail=detail)
                    elif status in ("timeout", "died", "memory", "cpu"):
                        if status == "timeout" and remaining < job.cell_timeout:
                            break  # the wall clock ran out, not the cell's own limit
                        skip_cells.add(index)
                        note(status, cell=index + 1, detail=detail, seconds=job.cell_timeout,
                             memory=job.memory, cpu_seconds=job.cpu_seconds)
                        restart = True
                        break
                if restart:
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 1:
                    note("wall_clock", seconds=job.max_time)
                    break
                from .injected import kernel_cell_source
                source = kernel_cell_source(job.checks_file, job.lab, job.checks_module, job.parts,
                                            sorted(done), job.cell_timeout, job.package_dir, stopped_parts,
                                            hidden_source=job.hidden_source, hidden_file=job.hidden_file,
                                            memory=job.memory)
                pending = max(1, job.n_checks - len(done))
                budget = job.cell_timeout * (pending + 1) + 30
                wall_limited = remaining < budget
                grade_cell = nbformat.v4.new_code_cell(source)
                status, detail = _run_cell(kernel, grade_cell, min(budget, remaining))
        except Exception as exc:  # noqa: BLE001 - e.g. the kernel could not start at all
            result.fatal = f"could not run a kernel: {type(exc).__name__}: {exc}"
            break
        if restart:
            continue
        in_flight: Optional[dict] = None
        events, events_read = _read_events(job.checks_file, events_read)
        for event in events:
            kind = event.get("event")
            if kind == "start":
                in_flight = event
            elif kind == "done":
                done[event["key"]] = {k: v for k, v in event.items() if k != "event"}
                in_flight = None
            elif kind == "fatal":
                result.fatal = event.get("message", "the grading code failed in the kernel")
            elif kind == "problem":
                result.problem = event.get("message", "not graded")
            elif kind == "end":
                result.finished = True
        if result.finished or result.fatal or result.problem:
            break
        if in_flight is not None and in_flight["key"] not in done:
            limits = {"memory": f"went over the memory limit ({_mib(job.memory)} exceeded)",
                      "cpu": f"used up the CPU limit ({job.cpu_seconds:g} CPU seconds exceeded)"}
            what = {"timeout": "ran past its time limit", "died": "killed the kernel", **limits}.get(
                status, f"broke the grading code ({detail})")
            done[in_flight["key"]] = {
                "key": in_flight["key"], "grade_id": in_flight["grade_id"], "description": in_flight["description"],
                "public": in_flight["public"], "hint": in_flight.get("hint", ""),
                "status": "timeout" if status == "timeout" else "error",
                "message": f"your code {what} while this check was running"}
            stopped_parts.append(in_flight["grade_id"])
            note("check_" + ("timeout" if status == "timeout" else "died"), check=in_flight["description"])
            continue  # fresh kernel, the remaining checks
        if status == "timeout" and wall_limited:
            note("wall_clock", seconds=job.max_time)
        else:
            result.fatal = f"the grading cell ended early ({status}{': ' + detail if detail else ''})"
        break
    result.outcomes = list(done.values())
    result.output_bytes = CappedClient.output_bytes
    return result


def _mib(size: int) -> str:
    from .sandbox import format_bytes

    return format_bytes(size)


def child_main(job_path: str, log_path: str) -> None:
    """Entry point in a process started by the grader: send output to ``log_path``, run the job."""
    from .sandbox import set_subreaper

    set_subreaper()  # orphans of the kernels reparent here, so kill_descendants finds them
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    main([job_path])


def main(argv: Optional[list[str]] = None) -> int:
    """Run the job file named on the command line; write its result file."""
    argv = sys.argv[1:] if argv is None else argv
    job = Job(**json.loads(Path(argv[0]).read_text(encoding="utf-8")))
    os.environ.update(job.env)  # kernels inherit it (e.g. PYTHONPATH for a checks module outside the package)
    if job.sandbox.get("uid") == "auto":  # a uid of its own: unique while this runner lives
        from .sandbox import KERNEL_UID_BASE

        job.sandbox["uid"] = KERNEL_UID_BASE + os.getpid()

    def on_term(signum: int, frame: Any) -> None:
        raise SystemExit(143)  # unwinds through the kernel context managers, which kill the kernels

    signal.signal(signal.SIGTERM, on_term)
    result = run_job(job)
    tmp = job.result_file + ".tmp"
    Path(tmp).write_text(json.dumps(asdict(result)), encoding="utf-8")
    os.replace(tmp, job.result_file)
    return 0


if __name__ == "__main__":
    sys.exit(main())
