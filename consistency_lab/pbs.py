"""How eventual is eventual? Probabilistically Bounded Staleness (Bailis et al., VLDB 2012).

Two questions about a partial quorum (R + W <= N):

* **k-staleness**: how likely is a read to miss the last k versions?  With each write
  on exactly W random replicas and each read asking R random ones, the chance that a
  read misses the latest write is ``C(N-W, R) / C(N, R)``; missing k in a row is that
  to the k-th power.
* **t-visibility**: how likely is a read that starts t ms after a write committed to
  see it?  Here the answer depends on message delays, so we *run* it: the WARS model
  (a write's trip to each replica W, the ack back A, a read's trip R, the answer back
  S) on the event-driven quorum store of :mod:`consistency_lab.replication`, with leg
  latencies from the paper's production measurements (its Table 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb
from typing import Callable, Optional

from .latency import Constant, Exponential, Latency, Mixture, Pareto, Shifted
from .network import Network, NetworkOptions
from .node import Node
from .replication.quorum import Get, GetReply, Put, PutAck, QuorumCoordinator, QuorumReplica
from .sim import Simulation, check_seed
from .validation import count, non_negative

__all__ = ["LatencyModel", "LATENCY_MODELS", "exponential_legs", "p_stale", "k_staleness",
           "t_visibility", "t_visibility_curve"]


@dataclass(frozen=True)
class LatencyModel:
    """One-way latency of each WARS leg (ms); ``wan_ms`` is added to non-local replicas."""

    name: str
    w: Latency
    a: Latency
    r: Latency
    s: Latency
    wan_ms: float = 0.0


def _mix(p_pareto: float, xm: float, alpha: float, rate: float) -> Mixture:
    return Mixture(((p_pareto, Pareto(xm, alpha)), (1 - p_pareto, Exponential(rate))))


_SSD = _mix(0.9122, 0.235, 10, 1.66)
_DISK_W = _mix(0.38, 1.05, 1.51, 0.183)

#: Production-like leg latencies (PBS paper, Table 3).  WAN is LNKD-DISK plus 75 ms on
#: every leg to the N-1 replicas outside a randomly chosen local datacentre.
LATENCY_MODELS: dict[str, LatencyModel] = {
    "LNKD-SSD": LatencyModel("LNKD-SSD", _SSD, _SSD, _SSD, _SSD),
    "LNKD-DISK": LatencyModel("LNKD-DISK", _DISK_W, _SSD, _SSD, _SSD),
    "YMMR": LatencyModel("YMMR", _mix(0.939, 3, 3.35, 0.0028), *([_mix(0.982, 1.5, 3.8, 0.0217)] * 3)),
    "WAN": LatencyModel("WAN", _DISK_W, _SSD, _SSD, _SSD, wan_ms=75.0),
}


def exponential_legs(w: float, a: float, r: float, s: float, name: Optional[str] = None) -> LatencyModel:
    """A model whose four legs are exponential with the given rates (per ms)."""
    return LatencyModel(name or f"exp(W={w:g},A={a:g},R={r:g},S={s:g})",
                        Exponential(w), Exponential(a), Exponential(r), Exponential(s))


def _check_nrw(n: int, r: int, w: int) -> None:
    count("n", n, 1)
    for name, value in (("r", r), ("w", w)):
        count(name, value, 1)
        if value > n:
            raise ValueError(f"{name}={value} must be an integer between 1 and n={n}")


def p_stale(n: int, r: int, w: int) -> float:
    """Chance that a read of R random replicas misses a write held by exactly W of N."""
    _check_nrw(n, r, w)
    return comb(n - w, r) / comb(n, r)


def k_staleness(n: int, r: int, w: int, k: int = 1) -> float:
    """Chance that a read returns one of the last ``k`` versions: ``1 - p_stale**k``."""
    count("k", k, 1)
    return 1.0 - p_stale(n, r, w) ** k


def _resolve(model: "str | LatencyModel") -> LatencyModel:
    if isinstance(model, LatencyModel):
        return model
    if model not in LATENCY_MODELS:
        raise ValueError(f"model={model!r} must be one of {', '.join(LATENCY_MODELS)} or a LatencyModel")
    return LATENCY_MODELS[model]


class _Prober(QuorumCoordinator, Node):
    """A client-side coordinator: writes a fresh key, then reads it t ms after commit."""


def t_visibility(model: "str | LatencyModel", n: int = 3, r: int = 1, w: int = 1, t: float = 0.0,
                 trials: int = 5000, seed: int = 0) -> float:
    """Probability that a read starting ``t`` ms after a write commits returns it (WARS, simulated)."""
    return t_visibility_curve(model, n, r, w, [t], trials, seed)[0]


def t_visibility_curve(model: "str | LatencyModel", n: int, r: int, w: int, ts: list[float],
                       trials: int = 5000, seed: int = 0) -> list[float]:
    """t-visibility at each t in ``ts``; every t reuses the same writes, so the curve is smooth."""
    _check_nrw(n, r, w)
    check_seed(seed)
    count("trials", trials, 1)
    ts = [non_negative("t", t, "ms") for t in ts]
    lm = _resolve(model)
    sim = Simulation(seed, trace=False)
    replicas = [f"r{i}" for i in range(n)]
    local = {}  # key -> local replica of that key's write ("w", key) / read ("r", key)
    pick = sim.rng("pbs/local-dc")
    far = {leg: Shifted(dist, lm.wan_ms) for leg, dist in (("w", lm.w), ("a", lm.a), ("r", lm.r), ("s", lm.s))}
    near = {"w": lm.w, "a": lm.a, "r": lm.r, "s": lm.s}
    req_key: dict[int, tuple[str, str]] = {}

    def leg_latency(src: str, dst: str, msg) -> Optional[Latency]:
        if isinstance(msg, Put):
            leg, replica, which = "w", dst, ("w", msg.key)
            req_key[msg.req_id] = which
        elif isinstance(msg, PutAck):
            leg, replica, which = "a", src, req_key[msg.reply_to]
        elif isinstance(msg, Get):
            leg, replica, which = "r", dst, ("r", msg.key)
            req_key[msg.req_id] = which
        elif isinstance(msg, GetReply):
            leg, replica, which = "s", src, req_key[msg.reply_to]
        else:
            return None
        if lm.wan_ms and replica != local[which]:
            return far[leg]
        return near[leg]

    net = Network(sim, NetworkOptions(latency=Constant(0.0)), leg_latency=leg_latency)
    for name in replicas:
        QuorumReplica(name, sim, net, region=None, replicas=replicas, n=n, r=r, w=w,
                      timeout_ms=None, read_repair="off", hinted_handoff=False, anti_entropy_ms=0)
    readers = []
    for i in range(len(ts)):
        p = _Prober(f"reader{i}", sim, net)
        p.setup_coordinator(replicas, n, r, w, conflicts="lww", fanout="all", timeout_ms=None,
                            read_repair="off", hinted_handoff=False, handoff_interval_ms=1.0)
        readers.append(p)
    writer = _Prober("writer", sim, net)
    writer.setup_coordinator(replicas, n, r, w, conflicts="lww", fanout="all", timeout_ms=None,
                             read_repair="off", hinted_handoff=False, handoff_interval_ms=1.0)
    fresh = [0] * len(ts)

    def start_trial(i: int) -> None:
        key = f"k{i}"
        local[("w", key)] = replicas[pick.randrange(n)]
        local[("r", key)] = replicas[pick.randrange(n)]
        version = writer.new_version(i)

        def committed(ok: bool) -> None:
            for j, t in enumerate(ts):
                sim.schedule(t, readers[j].coordinate_read, key, _reader_done(j, version))
        writer.coordinate_write(key, version, committed)

    def _reader_done(j: int, version) -> Callable[[bool, tuple], None]:
        def done(ok: bool, versions: tuple) -> None:
            if version in versions:
                fresh[j] += 1
        return done

    # Trials are independent (one key each), so they may overlap in time freely.
    for i in range(trials):
        sim.schedule(i * 0.5, start_trial, i)
    sim.run()
    return [f / trials for f in fresh]
