"""Guardrails of the eventual world: idempotent handlers, outbox, CQRS, reconciliation, sagas.

Each module holds one pattern built on :mod:`consistency_lab.streams` and the
simulation kernel.  The two plug-in interfaces that labs implement are
:class:`~consistency_lab.patterns.idempotency.StatefulHandler` (an event handler
with comparable ``state``) and :class:`~consistency_lab.patterns.reconciliation.Reconciler`
(what a reconciliation daemon compares and repairs).
"""

from .cqrs import Command, CommandResult, CommandSide, Projection, ReadResult, Rejected, VersionToken, fold_log
from .idempotency import (HANDLERS, CrashPoint, DedupeHandler, FoldHandler, IdempotencyStore, NaiveHandler,
                          StatefulHandler, VersionedHandler, VersionGate, exactly_once_state, make_handler)
from .locks import EXCLUSIVE, LOCK_MODES, SHARED, LockManager, TwoPhaseStore, compatible
from .outbox import OUTBOX_MODES, OutboxService
from .overload import RequestRecord, RetryingClient, Tier
from .reconciliation import PassReport, ReconciliationDaemon, Reconciler, RepairRecord
from .retry import RETRY_POLICIES, RetryBudget, RetryPolicy
from .saga import SagaOrchestrator, SagaParticipant, SagaRecord, SagaStep, saga_metrics
from .service import SHEDDING_MODES, CapacityService, Slowdown, mmc_expectations

__all__ = [
    "StatefulHandler", "IdempotencyStore", "VersionGate", "CrashPoint", "FoldHandler", "NaiveHandler",
    "DedupeHandler", "VersionedHandler", "HANDLERS", "make_handler", "exactly_once_state",
    "OutboxService", "OUTBOX_MODES",
    "LockManager", "TwoPhaseStore", "SHARED", "EXCLUSIVE", "LOCK_MODES", "compatible",
    "Command", "CommandResult", "CommandSide", "Projection", "ReadResult", "Rejected", "VersionToken", "fold_log",
    "Reconciler", "ReconciliationDaemon", "PassReport", "RepairRecord",
    "SagaStep", "SagaRecord", "SagaParticipant", "SagaOrchestrator", "saga_metrics",
    "CapacityService", "Slowdown", "SHEDDING_MODES", "mmc_expectations",
    "RetryPolicy", "RetryBudget", "RETRY_POLICIES", "Tier", "RetryingClient", "RequestRecord",
]
