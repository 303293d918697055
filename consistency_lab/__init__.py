"""Consistency Lab: a deterministic replication simulator for teaching strong and eventual consistency.

The core (simulation kernel, network, nodes, replication, checkers) imports neither
matplotlib nor ipywidgets, so ``import consistency_lab`` stays fast.
"""

from .faults import Clog, Crash, FaultSchedule, Partition, parse_faults
from .history import History, Operation
from .network import Network, NetworkOptions
from .node import Message, Node, Reply, Request
from .sim import Simulation

__version__ = "0.1.0"

__all__ = [
    "Simulation", "Network", "NetworkOptions", "Node", "Message", "Request", "Reply",
    "Operation", "History", "Partition", "Clog", "Crash", "FaultSchedule", "parse_faults",
    "simulate", "__version__",
]


def simulate(scenario: str, seed: int = 0, **params):
    """Run a named scenario (see ``consistency-lab simulate --list``) and return its result."""
    from .scenarios import get_scenario
    return get_scenario(scenario).run(seed, **params)
