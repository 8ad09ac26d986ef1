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
