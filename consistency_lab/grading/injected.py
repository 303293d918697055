"""Code the grader runs *inside* a submission's kernel, after the student's cells.

The runner appends one cell that purges any grading modules the student's code may have
touched, re-imports them from disk, and calls :func:`grade_in_kernel`.  Results go, one JSON
line per event, to a file whose random path only appears in that cell, so nothing the
notebook printed or wrote earlier can stand in for them.  Lines are flushed as they happen:
if a check kills the kernel, the checks before it still count.

The hidden checks are not in the kernel's file system (``sandbox.py`` masks their files): the
runner reads their source and puts it in that cell, so they reach the kernel only after the
student's cells have run, and :func:`grade_in_kernel` installs them as a module from the text.
"""

from __future__ import annotations

import json
import linecache
import sys
import types
from typing import Iterable

__all__ = ["grade_in_kernel", "kernel_cell_source"]


def _install_hidden(name: str, source: str, filename: str) -> None:
    """Make ``name`` importable from ``source`` (the file itself is not visible in the kernel)."""
    module = types.ModuleType(name)
    module.__file__ = filename
    # Tracebacks and inspect.getsource read lines through linecache; the file itself is masked.
    # An entry without an mtime is never re-checked against the disk.
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    sys.modules[name] = module
    try:
        exec(compile(source, filename, "exec"), module.__dict__)  # noqa: S102 - the grader's own checks
    except BaseException:
        del sys.modules[name]
        raise


def grade_in_kernel(result_path: str, lab: str, module: str, parts: list[str], skip: Iterable[str],
                    time_limit: float, stopped_parts: Iterable[str] = (), hidden_source: str = "",
                    hidden_file: str = "", memory: int = 0) -> None:
    """Run the public and hidden checks of ``parts`` on the kernel's user namespace, logging to ``result_path``.

    Checks in ``skip`` already have results.  Once a check of a part times out or stopped the
    kernel (``stopped_parts``), the part cannot score, so its remaining checks are reported as
    skipped rather than run: one runaway function costs one time limit, not one per check.
    """
    from IPython import get_ipython

    from .checks import ERROR, Outcome, checks_for, hidden_module_name, load_lab_checks, run_check

    skip = set(skip)
    stopped = set(stopped_parts)
    with open(result_path, "a", encoding="utf-8") as out:

        def emit(event: dict) -> None:
            out.write(json.dumps(event) + "\n")
            out.flush()

        try:
            load_lab_checks(lab, module, hidden=not hidden_source)
            if hidden_source:
                _install_hidden(hidden_module_name(module), hidden_source, hidden_file or "<hidden checks>")
        except BaseException as exc:  # noqa: B036 - report, never crash the grading cell
            emit({"event": "fatal", "message": f"cannot import checks {module!r}: {type(exc).__name__}: {exc}"})
            return
        shell = get_ipython()
        namespace = shell.user_ns if shell is not None else {}
        for part in parts:
            for chk in checks_for(lab, part, include_hidden=True):
                if chk.key in skip:
                    continue
                if part in stopped:
                    emit({"event": "done", **Outcome(chk.key, chk.grade_id, chk.description, chk.public, "not run",
                                                     "skipped: an earlier check of this part hung or stopped "
                                                     "the kernel", chk.hint).to_json()})
                    continue
                emit({"event": "start", "key": chk.key, "grade_id": chk.grade_id,
                      "description": chk.description, "public": chk.public, "hint": chk.hint})
                try:
                    outcome = run_check(chk, namespace, time_limit)
                except KeyboardInterrupt:  # only the student's own code raises it here
                    outcome = Outcome(chk.key, chk.grade_id, chk.description, chk.public, "error",
                                      "your code raised KeyboardInterrupt", chk.hint)
                if memory and outcome.status == ERROR and "raised MemoryError" in outcome.message:
                    outcome = Outcome(chk.key, chk.grade_id, chk.description, chk.public, ERROR,
                                      f"memory limit {_size(memory)} exceeded ({outcome.message})", chk.hint)
                emit({"event": "done", **outcome.to_json()})
                if outcome.status == "timeout":
                    stopped.add(part)
        emit({"event": "end"})


def _size(size: int) -> str:
    from .sandbox import format_bytes

    return format_bytes(size)


def kernel_cell_source(result_path: str, lab: str, module: str, parts: list[str], skip: list[str],
                       time_limit: float, package_dir: str, stopped_parts: list[str] = (), *,
                       hidden_source: str = "", hidden_file: str = "", memory: int = 0) -> str:
    """The source of the cell the runner appends to a submission (with the hidden checks' source, if given)."""
    args = json.dumps({"result_path": result_path, "lab": lab, "module": module, "parts": parts,
                       "skip": skip, "time_limit": time_limit, "stopped_parts": list(stopped_parts),
                       "hidden_source": hidden_source, "hidden_file": hidden_file, "memory": memory})
    hidden = module + "_hidden"
    # Why each step: the student's cwd could hold a fake 'consistency_lab' and their code could
    # have replaced grading modules in sys.modules; drop both before importing the checks.
    return f"""\
def __consistency_lab_grade__():
    import json, os, sys
    sys.path[:] = [p for p in sys.path if p not in ("", ".", os.getcwd())]
    for name in list(sys.modules):
        if name.startswith("consistency_lab.grading") or name in ({module!r}, {hidden!r}):
            del sys.modules[name]
    args = json.loads({args!r})
    import consistency_lab
    where = os.path.dirname(os.path.realpath(consistency_lab.__file__))
    if where != os.path.realpath({package_dir!r}):
        with open(args["result_path"], "a", encoding="utf-8") as out:
            out.write(json.dumps({{"event": "problem", "message": "not graded: the notebook replaced the "
                                  "consistency_lab package (imported from " + where + ")"}}) + "\\n")
        return
    from consistency_lab.grading.injected import grade_in_kernel
    grade_in_kernel(**args)
__consistency_lab_grade__()
del __consistency_lab_grade__
"""
