"""Start Django for a benchmark run as ``python bench/NAME.py`` (bench/ is then sys.path[0])."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_django() -> None:
    # First, even when the project is on the path already: bench/ (the script's directory,
    # sys.path[0]) holds dashboards.py, which would otherwise hide the dashboards app.
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chm_project.settings")
    # Benchmarks run with DEBUG off, as production does: settings then want a key, though a
    # benchmark signs nothing that outlives it.
    os.environ.setdefault("SECRET_KEY", "benchmark-only-not-a-secret")
    import django

    django.setup()


def psycopg_params(**overrides: object) -> dict:
    """Keyword arguments for ``psycopg.connect`` to the default database, as Django connects
    (the embedded server's socket directory included, which Django keeps in OPTIONS)."""
    from django.db import connection

    params = connection.get_connection_params()
    # Django's own cursor class and adapters context, not connection settings.
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return params | overrides


def database_url() -> str:
    """A DATABASE_URL for the default database, for a server process started by a benchmark."""
    from django.db import connection

    from chm_project.database_urls import url_of

    return url_of(connection)


def scratch_database(url: str, suffix: str) -> tuple[str, str]:
    """Create an empty database ``<name>_<suffix>`` next to ``url``'s (dropped first if a
    previous run left it); answer its URL and the maintenance database's, for drop_database."""
    from urllib.parse import urlsplit, urlunsplit

    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'chm'}_{suffix}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(parts._replace(path=f"/{name}")), admin_url


def drop_database(url: str, admin_url: str) -> None:
    from urllib.parse import urlsplit

    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as conn:
        name = urlsplit(url).path.lstrip("/")
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))


def setup_django_on_scratch_database(suffix: str) -> tuple[str, str]:
    """A migrated scratch database next to DATABASE_URL's, Django set up on it, statements
    without a timeout (benchmarks fill and measure long statements); answers what
    drop_database needs."""
    import os
    import sys

    url, admin_url = scratch_database(
        os.environ.get("DATABASE_URL") or sys.exit("DATABASE_URL?"), suffix
    )
    os.environ["DATABASE_URL"] = url
    os.environ["DB_STATEMENT_TIMEOUT_MS"] = "0"
    setup_django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return url, admin_url
