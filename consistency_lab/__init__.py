"""Consistency Lab: a deterministic replication simulator for teaching strong and eventual consistency.

The core (simulation kernel, network, nodes, replication, checkers) imports neither
matplotlib nor ipywidgets, so ``import consistency_lab`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .faults import Clog, Crash, FaultSchedule, Partition, parse_faults
    from .history import History, Operation
    from .network import Network, NetworkOptions
    from .node import Message, Node, Reply, Request
    from .sim import Simulation

__version__ = "0.1.0"

# The simulator names load on first use, so ``import consistency_lab.check`` (a pure
# history-to-verdict library) does not drag in SimPy and the network.
_LAZY = {
    "Clog": "faults", "Crash": "faults", "FaultSchedule": "faults", "Partition": "faults",
    "parse_faults": "faults", "History": "history", "Operation": "history", "Network": "network",
    "NetworkOptions": "network", "Message": "node", "Node": "node", "Reply": "node", "Request": "node",
    "Simulation": "sim",
}


def __getattr__(name: str) -> Any:
    """Import a top-level simulator name from its module the first time it is asked for."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "Simulation", "Network", "NetworkOptions", "Node", "Message", "Request", "Reply",
    "Operation", "History", "Partition", "Clog", "Crash", "FaultSchedule", "parse_faults",
    "simulate", "__version__",
]


def simulate(scenario: str, seed: int = 0, hooks: dict | None = None, **params: Any) -> Any:
    """Run a named scenario (see ``consistency-lab simulate --list``) and return its result.

    ``hooks`` hands the scenario code to run in place of its own, by hook name
    (``hooks={"job_factory": make_job}``); each scenario lists the names it accepts.
    """
    from .scenarios import get_scenario
    return get_scenario(scenario).run(seed, hooks=hooks, **params)
