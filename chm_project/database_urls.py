"""A DATABASE_URL for a Django connection, for processes started against the same database
(gunicorn in the benchmarks and the tests' live servers)."""

from __future__ import annotations

from urllib.parse import quote

from django.db.backends.base.base import BaseDatabaseWrapper


def url_of(connection: BaseDatabaseWrapper) -> str:
    """The connection's database as a URL; the embedded server's socket directory, which
    Django keeps in OPTIONS rather than HOST, as ``?host=``."""
    params = connection.get_connection_params()
    user = quote(str(params.get("user") or ""), safe="")
    password = quote(str(params.get("password") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = str(params.get("host") or "")
    port = f":{params['port']}" if params.get("port") else ""
    if host.startswith("/"):
        return f"postgres://{credentials}{port}/{params['dbname']}?host={quote(host, safe='')}"
    return f"postgres://{credentials}{quote(host, safe='')}{port}/{params['dbname']}"
