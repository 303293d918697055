"""Interactive explorers for the chapters (ipywidgets + matplotlib, all logic in the package).

``EXPLORERS`` maps a name to each explorer class.  ``EXPLORERS["register"]()`` builds one
with default settings; ``explorer.controls`` maps parameter names to widgets, and
changing a widget's value re-runs and redraws, so tests and benchmarks can drive
explorers without a browser.
"""

from __future__ import annotations

from typing import Any

from .base import Explorer
from .booking_explorer import BookingExplorer
from .commit_explorer import CommitExplorer
from .document_explorer import DocumentExplorer
from .growth_explorer import GrowthExplorer
from .history_explorer import HistoryExplorer
from .logistics_explorer import LogisticsExplorer
from .optimistic_ui_explorer import OptimisticUIExplorer
from .overload_explorer import OverloadExplorer
from .pbs_explorer import PBSExplorer
from .prediction import Prediction
from .quiz import Question, Quiz
from .raft_explorer import RaftExplorer
from .register_explorer import RegisterExplorer
from .tickets_explorer import TicketsExplorer
from .timeline_explorer import TimelineExplorer

__all__ = ["Explorer", "EXPLORERS", "Prediction", "Question", "Quiz", "explore"]

EXPLORERS: dict[str, type[Explorer]] = {
    "register": RegisterExplorer,
    "pbs": PBSExplorer,
    "tickets": TicketsExplorer,
    "raft": RaftExplorer,
    "logistics": LogisticsExplorer,
    "overload": OverloadExplorer,
    "timeline": TimelineExplorer,
    "document": DocumentExplorer,
    "booking": BookingExplorer,
    "growth": GrowthExplorer,
    "history": HistoryExplorer,
    "commit": CommitExplorer,
    "optimistic_ui": OptimisticUIExplorer,
}


def explore(name: str, **initial: Any) -> "Explorer":
    """Build the explorer called ``name`` (see ``EXPLORERS``) with optional starting values."""
    try:
        cls = EXPLORERS[name]
    except KeyError:
        raise ValueError(f"unknown explorer {name!r}; allowed: {', '.join(sorted(EXPLORERS))}") from None
    return cls(**initial)
