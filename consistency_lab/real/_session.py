"""What the PostgreSQL demos share: the lazily imported driver, bounded sessions, the server check."""

from __future__ import annotations

from typing import Any

from .postgres import PostgresServer

PSYCOPG_HOW_TO_INSTALL = 'pip install "psycopg[binary]>=3.3"'


def psycopg_module() -> Any:
    """psycopg, imported on first use so that ``consistency_lab.real`` imports without it."""
    try:
        import psycopg
    except ImportError:
        raise RuntimeError(f"psycopg is not installed; install it with: {PSYCOPG_HOW_TO_INSTALL}") from None
    return psycopg


def check_server(server: Any) -> PostgresServer:
    """``server`` itself if it is what postgres_server() yields, else a one-line ValueError."""
    if not isinstance(server, PostgresServer):
        raise ValueError(f"server={server!r} must be a PostgresServer from postgres_server()")
    return server


def connect(server: PostgresServer, timeout_s: float) -> Any:
    """An autocommit session whose every statement and lock wait ends within ``timeout_s``."""
    psycopg = psycopg_module()
    # autocommit: psycopg sends no implicit BEGIN, so each demo's transactions are exactly the
    # SQL it writes (BEGIN ... COMMIT), as a student would type it in psql.
    conn = psycopg.connect(server.conninfo, autocommit=True, connect_timeout=max(1, round(timeout_s)))
    ms = max(1, int(timeout_s * 1000))
    conn.execute(f"SET statement_timeout = {ms}")
    conn.execute(f"SET lock_timeout = {ms}")
    return conn
