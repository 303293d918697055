"""Simulated messages per second: Consistency Lab's engine against bare SimPy.

The same traffic runs on both: ``TOKENS`` tokens hop between ``NODES`` nodes, each hop
one message with a uniformly random latency, until ``HOPS`` messages have been
delivered.  The baseline is SimPy's own "Cable" idiom (one process per message in
flight, a Store per receiver).  We report the ratio, then the time and peak memory of
a one-million-message run of the engine in a fresh process.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import simpy

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _timing import best_of, table  # noqa: E402

from consistency_lab import Message, Network, NetworkOptions, Node, Simulation  # noqa: E402
from consistency_lab.latency import Uniform  # noqa: E402

NODES, TOKENS, HOPS = 10, 50, 100_000


@dataclass(frozen=True)
class Token(Message):
    hops_left: int


class Hopper(Node):
    def on_Token(self, msg: Token, src: str) -> None:
        self.delivered_here += 1
        if msg.hops_left > 0:
            nxt = self.names[self.rng.randrange(len(self.names))]
            self.send(nxt, Token(msg.hops_left - 1))

    def init_volatile(self) -> None:
        self.delivered_here = 0


def engine(hops: int = HOPS, trace: bool = True) -> int:
    """Run the traffic on the course's engine; returns messages delivered."""
    sim = Simulation(1, trace=trace)
    net = Network(sim, NetworkOptions(latency=Uniform(1, 10)))
    names = [f"n{i}" for i in range(NODES)]
    nodes = [Hopper(n, sim, net) for n in names]
    rng = sim.rng("traffic")
    for node in nodes:
        node.names, node.rng = names, rng
    for t in range(TOKENS):
        nodes[t % NODES].send(names[(t + 1) % NODES], Token(hops // TOKENS - 1))
    sim.run()
    return net.delivered


def bare_simpy(hops: int = HOPS) -> int:
    """The same traffic in SimPy's Cable idiom: a process per message in flight."""
    env = simpy.Environment()
    rng = random.Random(1)
    stores = [simpy.Store(env) for _ in range(NODES)]
    delivered = [0]

    def travel(dst: int, value: int):
        yield env.timeout(rng.uniform(1, 10))
        stores[dst].put(value)

    def node(i: int):
        while True:
            value = yield stores[i].get()
            delivered[0] += 1
            if value > 0:
                env.process(travel(rng.randrange(NODES), value - 1))

    for i in range(NODES):
        env.process(node(i))
    for t in range(TOKENS):
        env.process(travel((t + 1) % NODES, hops // TOKENS - 1))
    env.run()
    return delivered[0]


def million_in_fresh_process() -> dict:
    """Time and peak RSS of a 10^6-message engine run, measured in a clean interpreter."""
    code = (
        "import resource, sys, time; sys.path.insert(0, %r); import bench_simulator as b;"
        "t=time.perf_counter(); n=b.engine(1_000_000, trace=False); s=time.perf_counter()-t;"
        "import json; print(json.dumps({'messages': n, 'seconds': s,"
        "'peak_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss/1024}))"
    ) % str(Path(__file__).resolve().parent)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    """Print messages/second for both, their ratio, and the one-million-message run."""
    assert engine() == bare_simpy() == HOPS
    t_engine = best_of(engine)
    t_engine_untraced = best_of(lambda: engine(trace=False))
    t_bare = best_of(bare_simpy)
    rows = [
        ("bare SimPy (Cable idiom)", f"{HOPS / t_bare:,.0f}", "1.00"),
        ("engine, full trace", f"{HOPS / t_engine:,.0f}", f"{t_bare / t_engine:.2f}"),
        ("engine, trace off", f"{HOPS / t_engine_untraced:,.0f}", f"{t_bare / t_engine_untraced:.2f}"),
    ]
    print(f"{HOPS:,} messages, {NODES} nodes, {TOKENS} tokens in flight")
    print(table(rows, ("run", "messages/s", "ratio vs bare SimPy")))
    big = million_in_fresh_process()
    print(f"1,000,000 messages (trace off): {big['seconds']:.2f} s, peak RSS {big['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
