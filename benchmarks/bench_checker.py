"""Speed of the linearizability checker against brute force and an un-memoised search.

Run: ``python benchmarks/bench_checker.py``.  Histories come from a small seeded
simulator of a correct (atomic) register / key-value store: every operation takes
effect at a random instant inside its call-return interval, so every generated
history is linearizable unless deliberately broken.
"""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from consistency_lab.check import (  # noqa: E402
    Operation,
    brute_force_linearizable,
    check_operations,
    kv_model,
    register_model,
)


def simulate(
    rng: random.Random,
    n_ops: int,
    n_clients: int,
    keys: tuple | None = None,
    values: int = 5,
    pending_p: float = 0.0,
    mean_latency: float = 10.0,
) -> list[Operation]:
    """A history of a correct register (keys=None) or kv store (keys given)."""
    clock = [0.0] * n_clients
    planned = []
    for k in range(n_ops):
        c = rng.randrange(n_clients)
        call = clock[c] + rng.expovariate(1 / 2.0)
        latency = rng.expovariate(1 / mean_latency)
        pending = rng.random() < pending_p
        ret = math.inf if pending else call + latency
        clock[c] = call if pending else ret
        point = call + rng.uniform(0, latency)
        if pending and rng.random() < 0.5:
            point = None  # crashed before taking effect
        write = rng.random() < 0.5
        v = rng.randrange(values)
        if keys is None:
            inp = ("write", v) if write else ("read", None)
        else:
            key = rng.choice(keys)
            inp = ("put", key, v) if write else ("get", key, None)
        planned.append((point, k, c, inp, call, ret))
    state: dict = {}
    outputs: dict[int, object] = {}
    for _point, k, _c, inp, _call, _ret in sorted(p for p in planned if p[0] is not None):
        key = inp[1] if keys is not None else None
        if inp[0] in ("write", "put"):
            state[key] = inp[-1]
        else:
            outputs[k] = state.get(key)
    ops = []
    for _point, k, c, inp, call, ret in planned:
        status = "info" if math.isinf(ret) else "ok"
        ops.append(Operation(c, inp, call, outputs.get(k) if status == "ok" else None, ret, status))
    return ops


def garble(rng: random.Random, ops: list[Operation]) -> list[Operation]:
    """Make one random read return a value nobody wrote: certainly not linearizable,
    and the search must rule out every order up to that read to say so."""
    reads = [i for i, op in enumerate(ops) if op.input[0] in ("read", "get") and op.status == "ok"]
    if not reads:
        return ops
    i = rng.choice(reads)
    op = ops[i]
    out = list(ops)
    out[i] = Operation(op.client_id, op.input, op.call, "never written", op.return_time)
    return out


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def row(name: str, *cells: str) -> None:
    print(f"{name:<40}" + "".join(f"{c:>13}" if not c.startswith("   ") else c for c in cells))


# The three searches compared: plain Wing & Gong, plus Lowe's memo set (what
# Porcupine does), plus greedy placement of legal reads (the default).
VARIANTS = (
    ("Wing-Gong, no memo", dict(_memoise=False, _greedy=False)),
    ("+ memo (Porcupine)", dict(_memoise=True, _greedy=False)),
    ("+ memo + greedy reads (default)", dict()),
)


def bench_small(rng: random.Random, model, n_histories: int = 300) -> None:
    histories = []
    for _ in range(n_histories):
        h = simulate(rng, rng.randint(3, 7), rng.randint(2, 4), values=3, pending_p=0.1, mean_latency=4)
        histories.append(garble(rng, h) if rng.random() < 0.5 else h)
    totals = {name: 0.0 for name, _ in VARIANTS}
    t_brute = 0.0
    agree = legal = 0
    for h in histories:
        expected, dt = timed(brute_force_linearizable, model, h)
        t_brute += dt
        legal += expected
        verdicts = []
        for name, kwargs in VARIANTS:
            res, dt = timed(check_operations, model, h, **kwargs)
            totals[name] += dt
            verdicts.append(res.ok)
        agree += all(v == expected for v in verdicts)
    print(f"\n{n_histories} small register histories (3-7 ops, half garbled): "
          f"{legal} linearizable; all checkers agree on {agree}/{n_histories}")
    row("checker", "total ms", "per history", "vs default")
    base = totals[VARIANTS[-1][0]]
    for name, t in [("brute force (all permutations)", t_brute)] + list(totals.items()):
        row(name, f"{t * 1000:.1f}", f"{t / n_histories * 1e6:.0f} us", f"{t / base:.1f}x")


def bench_register(model, seeds: int = 8, timeout: float = 2.0) -> None:
    print(f"\n200-op, 5-client register histories, {seeds} seeds each "
          f"(5% pending; garbled = one read changed; timeout {timeout:g} s)")
    row("checker", "kind", "median ms", "max ms", "   verdicts")
    for kind in ("legal", "garbled"):
        for name, kwargs in VARIANTS:
            times, verdicts = [], []
            for seed in range(seeds):
                h = simulate(random.Random(seed), 200, 5, values=50, pending_p=0.05, mean_latency=20)
                if kind == "garbled":
                    h = garble(random.Random(seed), h)
                res, dt = timed(check_operations, model, h, timeout=timeout, **kwargs)
                times.append(dt)
                verdicts.append(res.verdict)
            times.sort()
            counts = ",".join(f"{verdicts.count(v)} {v}" for v in ("ok", "illegal", "unknown") if v in verdicts)
            row(name, kind, f"{times[len(times) // 2] * 1000:.1f}", f"{times[-1] * 1000:.1f}", "   " + counts)


def bench_kv(model, timeout: float = 60.0) -> None:
    print("\nPartitioned key-value histories, 50 clients, 1% pending (default checker)")
    row("history", "ops", "legal s", "verdict", "garbled s", "verdict")
    for n_ops, n_keys in ((3000, 20), (3000, 5), (5000, 5)):
        keys = tuple(f"k{i}" for i in range(n_keys))
        h = simulate(random.Random(n_ops + n_keys), n_ops, 50, keys=keys, values=20, pending_p=0.01)
        res, dt = timed(check_operations, model, h, timeout=timeout)
        bad, dt_bad = timed(check_operations, model, garble(random.Random(1), h), timeout=timeout)
        row(f"50 clients, {n_keys} keys", str(n_ops), f"{dt:.2f}", res.verdict, f"{dt_bad:.2f}", bad.verdict)


def main() -> None:
    model = register_model()
    bench_small(random.Random(2024), model)
    bench_register(model)
    bench_kv(kv_model())


if __name__ == "__main__":
    main()
