"""Replication protocols for a key-value register: primary–backup, leaderless quorums and Raft; CRDT sync."""

from .client import ClientRead, ClientWrite, ReadOk, Redirect, Refused, RegisterClient, WriteOk
from .causal_broadcast import CausalBroadcast, CausalOp
from .crdt_sync import SYNC_MODES, CrdtSyncResult, CrdtUpdate, run_crdt
from .primary_backup import PB_MODES, PrimaryBackupReplica
from .quorum import CONFLICT_MODES, FANOUTS, QuorumCoordinator, QuorumReplica, Version, merge_versions
from .raft import RAFT_ROLES, RaftReplica

__all__ = [
    "ClientRead", "ClientWrite", "ReadOk", "Redirect", "Refused", "RegisterClient", "WriteOk",
    "PB_MODES", "PrimaryBackupReplica", "CONFLICT_MODES", "FANOUTS", "QuorumCoordinator",
    "QuorumReplica", "Version", "merge_versions", "RAFT_ROLES", "RaftReplica",
    "SYNC_MODES", "CrdtSyncResult", "CrdtUpdate", "run_crdt",
    "CausalBroadcast", "CausalOp",
]
