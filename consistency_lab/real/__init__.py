"""Real systems outside the simulator: SQLite, a throwaway PostgreSQL, a real Yjs document.

``sqlite_race.py`` runs chapter 03's last-seat race on a real SQLite file; ``postgres.py``
starts and always stops the server; ``pg_race.py`` runs the same race on real connections;
``pg_deadlock.py`` lets PostgreSQL's detector break a real deadlock; ``pycrdt_docs.py`` holds
one editor's text as a real Yjs document (pycrdt) for chapter 04.
``etcd_cluster.py`` starts and always stops a real etcd cluster behind the peer proxy of
``etcd_proxy.py`` (its nemesis cuts links, kills, pauses and restarts members);
``etcd_workload.py`` is the Jepsen-style client workload and ``etcd_experiment.py`` runs both
(``run_etcd_experiment``) into a history the course checker judges.
Nothing here imports psycopg until a demo runs, so ``postgres_availability()`` can say in one
line what is missing on a machine without it.
"""

from .analytics_sqlite import QUERY_SHAPES, AnalyticsTiming, run_analytics_comparison
from .pg_deadlock import DEADLOCK_DETECTED, DeadlockResult, LockWait, run_pg_deadlock
from .pg_race import PG_STRATEGIES, SERIALIZATION_FAILURE, PgRaceResult, run_pg_race
from .pycrdt_docs import PycrdtText
from .etcd_experiment import EtcdRun, etcd_availability, run_etcd_experiment
from .sqlite_race import STRATEGIES, SqliteRaceResult, run_sqlite_race
from .postgres import (PostgresAvailability, PostgresServer, PostgresStartError, PostgresUnavailable,
                       postgres_availability, postgres_server)

__all__ = ["postgres_server", "postgres_availability", "PostgresServer", "PostgresAvailability",
           "PostgresUnavailable", "PostgresStartError", "run_pg_race", "PgRaceResult", "PG_STRATEGIES",
           "SERIALIZATION_FAILURE", "run_pg_deadlock", "DeadlockResult", "LockWait", "DEADLOCK_DETECTED",
           "run_analytics_comparison", "AnalyticsTiming", "QUERY_SHAPES", "PycrdtText",
           "run_sqlite_race", "SqliteRaceResult", "STRATEGIES", "run_etcd_experiment", "etcd_availability",
           "EtcdRun"]
