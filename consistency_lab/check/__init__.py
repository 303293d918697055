"""Consistency checkers: linearizability, sequential, causal, session guarantees, consistent prefix, eventual.

Typical use::

    from consistency_lab.check import check_operations, register_model
    result = check_operations(register_model(), history, timeout=5)
    print(result.verdict, result.explain())

Nothing here imports matplotlib; plotting lives in ``consistency_lab.plots``.
"""

from consistency_lab.history import History, Operation

from ._common import precedes
from .bruteforce import brute_force_linearizable, brute_force_sequential
from .convergence import ConvergenceResult, check_convergence, convergence_time
from .guarantees import LEVELS, SEQUENTIAL_LIMIT, GuaranteeTable, strongest_guarantees
from .io import HistoryFormatError, parse_history, read_history, write_edn, write_jsonl
from .linearizability import check_operations
from .model_type import UNKNOWN, Model
from .builtin_models import (
    MODEL_HELP,
    MODELS,
    cas_kv_model,
    cas_register_model,
    counter_model,
    describe_op,
    kv_model,
    model_by_name,
    register_model,
    tuple_kv_model,
)
from .result import CheckResult, Witness
from .sequential import check_sequential
from .causal import check_causal
from .eventual import check_eventual
from .history_text import format_history_text, parse_history_text
from .model_map import IMPLIES, MAP_EDGES, MAP_LEVELS, ModelMap, place_on_map
from .pattern_result import PatternResult
from .prefix import check_consistent_prefix
from .session import (
    SessionResult,
    monotonic_reads,
    monotonic_writes,
    read_your_writes,
    writes_follow_reads,
)

__all__ = [
    "LEVELS",
    "MODELS",
    "MODEL_HELP",
    "SEQUENTIAL_LIMIT",
    "UNKNOWN",
    "CheckResult",
    "ConvergenceResult",
    "GuaranteeTable",
    "History",
    "HistoryFormatError",
    "Model",
    "Operation",
    "SessionResult",
    "Witness",
    "brute_force_linearizable",
    "brute_force_sequential",
    "cas_kv_model",
    "cas_register_model",
    "check_convergence",
    "check_operations",
    "check_sequential",
    "convergence_time",
    "counter_model",
    "describe_op",
    "kv_model",
    "model_by_name",
    "monotonic_reads",
    "monotonic_writes",
    "parse_history",
    "precedes",
    "read_history",
    "read_your_writes",
    "register_model",
    "strongest_guarantees",
    "tuple_kv_model",
    "write_edn",
    "write_jsonl",
    "writes_follow_reads",
    "IMPLIES",
    "MAP_EDGES",
    "MAP_LEVELS",
    "ModelMap",
    "PatternResult",
    "check_causal",
    "check_consistent_prefix",
    "check_eventual",
    "format_history_text",
    "parse_history_text",
    "place_on_map",
]
