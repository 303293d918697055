"""``consistency_lab.check`` is a pure history-to-verdict library: no SimPy, no simulator, no PBS."""

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import consistency_lab.check as check

CHECK_DIR = Path(check.__file__).parent
# What a checker must never reach: the event kernel and everything that runs on it.
FORBIDDEN = ("simpy", "consistency_lab.sim", "consistency_lab.network", "consistency_lab.node",
             "consistency_lab.faults", "consistency_lab.replication", "consistency_lab.scenarios",
             "consistency_lab.pbs")
SUBMODULES = sorted(f"consistency_lab.check.{m.name}" for m in pkgutil.iter_modules([str(CHECK_DIR)]))


def _is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def _imports(path: Path) -> list[str]:
    """Absolute names of every module a file imports, at any depth (function-level imports too)."""
    package = "consistency_lab.check"
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.append(base)
            names += [f"{base}.{a.name}" for a in node.names]
    return names


def test_importing_every_checker_module_loads_no_simulator_code():
    code = ("import sys, importlib\n"
            f"for m in {SUBMODULES!r}: importlib.import_module(m)\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.split()
    assert "consistency_lab.check.linearizability" in loaded  # the probe really imported the checker
    assert [m for m in loaded if _is_forbidden(m)] == []


def test_no_checker_source_imports_the_simulator_even_lazily():
    offenders = {path.name: bad for path in sorted(CHECK_DIR.glob("*.py"))
                 if (bad := sorted({m for m in _imports(path) if _is_forbidden(m)}))}
    assert offenders == {}


def test_pbs_lives_outside_check():
    assert importlib.util.find_spec("consistency_lab.check.pbs") is None
    for name in ("t_visibility", "t_visibility_curve", "LATENCY_MODELS", "k_staleness", "p_stale",
                 "exponential_legs", "LatencyModel"):
        assert name not in check.__all__ and not hasattr(check, name), name


def test_the_import_scan_sees_relative_and_nested_imports(tmp_path):
    src = tmp_path / "probe.py"
    src.write_text("from ..replication.quorum import Get\n"
                   "def f():\n    import simpy\n    from .. import pbs\n")
    assert [m for m in _imports(src) if _is_forbidden(m)] == [
        "consistency_lab.replication.quorum", "consistency_lab.replication.quorum.Get", "simpy",
        "consistency_lab.pbs"]
