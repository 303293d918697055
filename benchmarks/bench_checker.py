"""Speed of the linearizability checker: this version against the previous one, and
against brute force on tiny histories.

Run: ``python benchmarks/bench_checker.py [--quick]``.

Main table: histories/s on generated Jepsen-like histories (5 worker threads, 300 to
1,000 operations, 5-10% indeterminate), for a CAS register (Jepsen etcd style:
read/write/cas on 5 values, a failed compare is ``:fail``) and for the string
key-value store (MIT 6.5840 style: get/put/append on 5 keys, appended values
``"x P N y"``).  Every history comes from a correct (atomic) object, so it is
linearizable, unless "garbled": one read then returns a value nobody wrote.

"Previous" is the checker as of commit ``PREVIOUS`` (``git show`` into a temporary
package, imported beside the current one), so both run in this process on the same
histories with the same model functions; nothing of the old code is kept in the tree.
"""

from __future__ import annotations

import argparse
import importlib
import math
import random
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from consistency_lab.check import (  # noqa: E402
    Model,
    Operation,
    brute_force_linearizable,
    check_operations,
    model_by_name,
    register_model,
)
from consistency_lab.check import model_type  # noqa: E402

PREVIOUS = "ffbd633"
# The files the previous checker needs (its package __init__ pulls in everything,
# so an empty one is written instead).
_PREVIOUS_FILES = ("_common.py", "model.py", "models.py", "result.py", "linearizability.py")
TIMEOUT_S = 5.0


# --- histories -----------------------------------------------------------------------


def jepsen_history(
    rng: random.Random, kind: str, n_ops: int, info_p: float, threads: int = 5,
    keys: int = 5, values: int = 5,
) -> list[Operation]:
    """A Jepsen-like history of a correct CAS register ("cas-register") or string kv store ("kv").

    ``threads`` workers issue one operation at a time.  With probability ``info_p``
    an operation is indeterminate (``:info``): half of those take effect up to three
    latencies after the call, the rest never, and the worker continues as a new
    process, as Jepsen does.  A cas whose compare fails is ``:fail``.
    """
    clock = [0.0] * threads
    process = list(range(threads))
    count = [0] * threads
    planned = []
    for k in range(n_ops):
        t = min(range(threads), key=clock.__getitem__)
        call = clock[t] + rng.expovariate(1.0)
        latency = rng.expovariate(1 / 5.0)
        info = rng.random() < info_p
        f = rng.choice(("read", "write", "cas") if kind == "cas-register" else ("get", "put", "append"))
        if f == "read":
            inp = ("read", None)
        elif f == "write":
            inp = ("write", rng.randrange(values))
        elif f == "cas":
            inp = ("cas", (rng.randrange(values), rng.randrange(values)))
        elif f == "get":
            inp = ("get", str(rng.randrange(keys)), None)
        else:
            inp = (f, str(rng.randrange(keys)), f"x {process[t]} {count[t]} y")
            count[t] += 1
        if info:
            point = call + rng.uniform(0, 3 * latency) if rng.random() < 0.5 else None
        else:
            point = call + rng.uniform(0, latency)
        planned.append((point, k, process[t], inp, call, math.inf if info else call + latency))
        clock[t] = call + latency
        if info:
            process[t] += threads
    state: dict = {}
    outputs: dict[int, object] = {}
    failed = set()
    for _point, k, _p, inp, _call, _ret in sorted(p for p in planned if p[0] is not None):
        f = inp[0]
        if f == "read":
            outputs[k] = state.get(None)
        elif f == "write":
            state[None] = inp[1]
        elif f == "cas":
            if state.get(None) == inp[1][0]:
                state[None], outputs[k] = inp[1][1], True
            else:
                failed.add(k)
        elif f == "get":
            outputs[k] = state.get(inp[1], "")
        else:
            state[inp[1]] = inp[2] if f == "put" else state.get(inp[1], "") + inp[2]
    ops = []
    for _point, k, p, inp, call, ret in planned:
        status = "info" if math.isinf(ret) else "fail" if k in failed else "ok"
        ops.append(Operation(p, inp, call, outputs.get(k) if status == "ok" else None, ret, status))
    return ops


def garble(rng: random.Random, ops: list[Operation]) -> list[Operation]:
    """One random completed read returns a value nobody wrote: certainly not linearizable."""
    reads = [i for i, op in enumerate(ops) if op.input[0] in ("read", "get") and op.status == "ok"]
    out = list(ops)
    i = rng.choice(reads)
    out[i] = Operation(ops[i].client_id, ops[i].input, ops[i].call, "never written", ops[i].return_time)
    return out


def workload(kind: str, n: int, seed: int) -> list[tuple[str, list[Operation]]]:
    """``n`` legal and ``n`` garbled histories of ``kind``, seeded."""
    out = []
    for k in range(n):
        rng = random.Random(f"{kind}-{seed}-{k}")
        h = jepsen_history(rng, kind, rng.randint(300, 1000), rng.uniform(0.05, 0.10))
        out.append(("legal", h))
        out.append(("garbled", garble(rng, h)))
    return out


# --- the previous checker, loaded from git -------------------------------------------


def load_previous(name: str) -> ModuleType:
    """Import the checker of commit PREVIOUS as package ``name`` from a temporary directory."""
    tmp = Path(tempfile.mkdtemp(prefix="bench_checker_"))
    pkg = tmp / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for fname in _PREVIOUS_FILES:
        src = subprocess.run(
            ["git", "show", f"{PREVIOUS}:consistency_lab/check/{fname}"],
            cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout
        (pkg / fname).write_text(src)
    sys.path.insert(0, str(tmp))
    try:
        lin = importlib.import_module(f"{name}.linearizability")
    finally:
        sys.path.remove(str(tmp))
    # The old search hands its own UNKNOWN sentinel to model.step; give it ours so it
    # can run the current model functions unchanged.
    importlib.import_module(f"{name}._common").UNKNOWN = model_type.UNKNOWN
    return lin


def as_previous(lin: ModuleType, model: Model) -> object:
    """The same model functions wrapped in the previous package's Model class."""
    old_model = importlib.import_module(lin.__name__.rsplit(".", 1)[0] + ".model").Model
    return old_model(
        init=model.init, step=model.step, partition=model.partition, describe=model.describe,
        name=model.name, describe_state=model.describe_state, part_name=model.part_name,
        pure=model.pure,
    )


# --- measuring -------------------------------------------------------------------------


def run_all(check, model, histories) -> tuple[float, list[str]]:
    """Total seconds and verdicts of ``check`` over ``histories``."""
    verdicts = []
    start = time.perf_counter()
    for _label, h in histories:
        verdicts.append(check(model, h, timeout=TIMEOUT_S).verdict)
    return time.perf_counter() - start, verdicts


def _counts(verdicts: list[str]) -> str:
    return ", ".join(f"{verdicts.count(v)} {v}" for v in ("ok", "illegal", "unknown") if v in verdicts)


def bench_jepsen(n: int) -> None:
    """Histories/s of the current and the previous checker on Jepsen-like histories."""
    previous = load_previous(f"previous_{PREVIOUS}")
    print(f"Jepsen-like histories: {n} legal + {n} garbled per model, 5 threads, "
          f"300-1,000 ops, 5-10% indeterminate; timeout {TIMEOUT_S:g} s each")
    print(f"{'model':<14}{'kind':<9}{'previous h/s':>14}{'current h/s':>13}{'speed-up':>10}"
          f"{'no greedy h/s':>15}   verdicts previous | current")
    for kind in ("cas-register", "kv"):
        model = model_by_name(kind)
        histories = workload(kind, n, seed=1)
        for label in ("legal", "garbled"):
            hs = [h for h in histories if h[0] == label]
            t_old, v_old = run_all(previous.check_operations, as_previous(previous, model), hs)
            t_new, v_new = run_all(check_operations, model, hs)
            t_plain, _ = run_all(partial(check_operations, _greedy=False), model, hs)
            print(f"{kind:<14}{label:<9}{len(hs) / t_old:>14.1f}{len(hs) / t_new:>13.1f}"
                  f"{t_old / t_new:>9.1f}x{len(hs) / t_plain:>15.1f}   {_counts(v_old)} | {_counts(v_new)}")
            for a, b in zip(v_old, v_new, strict=True):
                # Only a timeout may differ; a definite verdict never may.
                assert a == b or "unknown" in (a, b), (kind, label, a, b)
    print("A history that times out counts as its timeout, so where the previous checker "
          "timed out its rate is too high\nand the speed-up a lower bound.  'no greedy': "
          "the current checker without greedy placement of reads.")


def bench_small(rng: random.Random, n_histories: int = 300) -> None:
    """Tiny register histories: agreement with brute force, and the search variants."""
    model = register_model()
    variants = (
        ("Wing-Gong, no memo", dict(_memoise=False, _greedy=False)),
        ("+ memo (Porcupine)", dict(_memoise=True, _greedy=False)),
        ("+ memo + greedy reads (default)", dict()),
    )
    histories = []
    for _ in range(n_histories):
        h = jepsen_history(rng, "cas-register", rng.randint(3, 7), 0.1, threads=3, values=3)
        h = [op for op in h if op.input[0] != "cas"]
        if any(op.input[0] == "read" and op.status == "ok" for op in h) and rng.random() < 0.5:
            h = garble(rng, h)
        histories.append(h)
    totals = {name: 0.0 for name, _ in variants}
    t_brute = 0.0
    agree = legal = 0
    for h in histories:
        start = time.perf_counter()
        expected = brute_force_linearizable(model, h)
        t_brute += time.perf_counter() - start
        legal += expected
        same = True
        for name, kwargs in variants:
            start = time.perf_counter()
            same &= check_operations(model, h, **kwargs).ok == expected
            totals[name] += time.perf_counter() - start
        agree += same
    print(f"\n{n_histories} tiny register histories (3-7 ops, about half garbled): "
          f"{legal} linearizable; all checkers agree on {agree}/{n_histories}")
    base = totals[variants[-1][0]]
    print(f"{'checker':<34}{'total ms':>10}{'per history':>13}{'vs default':>12}")
    for name, t in [("brute force (all permutations)", t_brute)] + list(totals.items()):
        print(f"{name:<34}{t * 1000:>10.1f}{t / n_histories * 1e6:>10.0f} us{t / base:>11.1f}x")


def main() -> None:
    """Run the benchmarks (``--quick``: fewer histories)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 histories per model and kind")
    args = parser.parse_args()
    bench_jepsen(3 if args.quick else 10)
    bench_small(random.Random(2024))


if __name__ == "__main__":
    main()
