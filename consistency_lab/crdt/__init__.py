"""Conflict-free replicated data types: pure data with state-based ``merge`` and ``value``.

No SimPy, no simulator: running these on simulated nodes is ``replication.crdt_sync``'s job.
Every type takes its replica id first; operations mutate the local replica and return a delta;
``a.merge(b)`` returns a new object and never mutates either side (``merge_in`` joins in place);
``==`` compares state; ``state_size()`` counts stored entries, tombstones included.
"""

from .base import CRDT
from .counters import GCounter, PNCounter
from .maps import LWWMap
from .registers import LWWRegister, MVRegister
from .rga import RGA, ElementId, RGADelete, RGAInsert, RGAOp
from .sets import GSet, ORSet, TwoPSet

# name -> type, for replication helpers, explorers and labs that pick a type by name
CRDT_TYPES: dict[str, type[CRDT]] = {
    "gcounter": GCounter, "pncounter": PNCounter, "gset": GSet, "twopset": TwoPSet, "orset": ORSet,
    "lwwregister": LWWRegister, "mvregister": MVRegister, "lwwmap": LWWMap, "rga": RGA,
}

__all__ = ["CRDT", "CRDT_TYPES", "GCounter", "PNCounter", "GSet", "TwoPSet", "ORSet", "LWWRegister",
           "MVRegister", "LWWMap", "RGA", "RGAInsert", "RGADelete", "RGAOp", "ElementId"]
