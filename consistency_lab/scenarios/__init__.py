"""The article's stories as runnable, seeded workloads.

``SCENARIOS`` maps a name to a :class:`Scenario`; the command line
(``consistency-lab simulate``) and the widgets look scenarios up here.  A scenario
runs one way only: ``get_scenario(name).run(seed, hooks=..., **params)`` (or
``consistency_lab.simulate(name, seed, hooks=..., **params)``), which validates
everything before the simulation starts.
"""

from __future__ import annotations

from .base import Hook, Param, RunResult, Scenario

__all__ = ["Param", "Hook", "RunResult", "Scenario", "SCENARIOS", "register_scenario", "get_scenario", "all_scenarios"]

SCENARIOS: dict[str, Scenario] = {}


def register_scenario(scenario: Scenario) -> Scenario:
    """Add a scenario to the registry (names must be unique)."""
    if scenario.name in SCENARIOS:
        raise ValueError(f"scenario {scenario.name!r} is registered twice")
    SCENARIOS[scenario.name] = scenario
    return scenario


def get_scenario(name: str) -> Scenario:
    """Look a scenario up by name, with an error listing the known ones."""
    _load_all()
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; allowed: {', '.join(sorted(SCENARIOS))}") from None


def all_scenarios() -> dict[str, Scenario]:
    """Every scenario, by name, in name order."""
    _load_all()
    return dict(sorted(SCENARIOS.items()))


def _load_all() -> None:
    """Import the scenario modules so they register themselves (lazily: keeps import fast)."""
    import importlib
    for module in _MODULES:
        importlib.import_module(f"{__name__}.{module}")


#: Modules that define scenarios; each calls register_scenario at import.
_MODULES = ["register", "timeline", "cart", "tickets", "overload", "transactions", "document",
            "logistics", "logistics_lag", "crdt", "orders", "commit_protocols",
            "growth", "game_platform", "booking", "outbox_crash", "cms", "messaging", "payments"]
