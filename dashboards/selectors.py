"""Reads of CHM's own rendering of the dashboards: the catalog's SQL (dashboards/catalog.py),
run as the read-only reporting role, as Grafana and Metabase run it.

The panels are raw SQL rather than QuerySets on purpose: the catalog's text is the one
definition all three surfaces run, so that they show the same numbers. Each read is one
transaction in which CHM's connection acts as the reporting role (``SET LOCAL ROLE``), so a
panel can read the ``reporting`` views and nothing else, whatever its SQL says. Values are
always parameters.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, connections, router, transaction

from common.csv_export import CHUNK_ROWS
from dashboards.catalog import CLIENT_VARIABLE_SQL, Panel, native_sql
from runs.reporting import PipelineLatestStatus

logger = logging.getLogger(__name__)


class ReportingRoleUnavailable(DatabaseError):
    """CHM's database user may not act as the reporting role."""


@dataclass(frozen=True)
class DashboardFilters:
    """Grafana's two filters: the selected clients' slugs and the time range (inclusive)."""

    clients: tuple[str, ...]
    time_from: dt.datetime
    time_to: dt.datetime

    def parameters(self) -> dict:
        return {
            "clients": list(self.clients),
            "time_from": self.time_from,
            "time_to": self.time_to,
        }


@dataclass(frozen=True)
class PanelData:
    columns: tuple[str, ...] = ()
    rows: list[tuple] = field(default_factory=list)
    # More rows than were read: the panel shows the first ones, its CSV every one.
    truncated: bool = False
    error: str = ""


def reporting_alias() -> str:
    """The database the dashboards read: the replica for page requests when there is one,
    as for the pages (the database router's choice for the reporting views' models)."""
    return router.db_for_read(PipelineLatestStatus)


@contextlib.contextmanager
def as_reporting_role(alias: str) -> Iterator[None]:
    """One transaction (a savepoint inside a caller's) acting as the reporting role."""
    connection = connections[alias]
    role = settings.CHM_REPORTING_ROLE
    with transaction.atomic(using=alias):
        with connection.cursor() as cursor:
            try:
                cursor.execute("SELECT set_config('role', %s, true)", [role])
            except DatabaseError as exc:
                raise ReportingRoleUnavailable(
                    f"CHM's database user may not act as the reporting role {role!r} "
                    f"({exc}). As a superuser: GRANT {role} TO <CHM's database user>."
                ) from exc
        yield
        # A role set for the transaction outlives a released savepoint: give the connection
        # its own role back before the caller's transaction goes on.
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('role', 'none', true)")


def client_options(*, alias: str) -> list[tuple[str, str]]:
    """(slug, name) of every active client: the options of Grafana's client variable, from
    the same query, so that "all clients" means the same set on both."""
    with as_reporting_role(alias), connections[alias].cursor() as cursor:
        cursor.execute(CLIENT_VARIABLE_SQL)
        return [(slug, name) for slug, name in cursor.fetchall()]


def panel_data(panel: Panel, filters: DashboardFilters, *, alias: str, limit: int) -> PanelData:
    """The panel's first ``limit`` rows. A panel whose SQL fails answers its error (and logs
    it) instead of raising: one broken panel does not take its dashboard down."""
    try:
        with as_reporting_role(alias), connections[alias].cursor() as cursor:
            cursor.execute(native_sql(panel), filters.parameters())
            columns = tuple(column.name for column in cursor.description)
            rows = cursor.fetchmany(limit + 1)
    except DatabaseError as exc:
        logger.exception("Dashboard panel %s failed", panel.key)
        return PanelData(error=f"{type(exc).__name__}: {exc}".strip())
    return PanelData(columns, rows[:limit], truncated=len(rows) > limit)


def panel_rows(panel: Panel, filters: DashboardFilters, *, alias: str) -> Iterator[Sequence]:
    """Every row of the panel, read through a server-side cursor a chunk at a time, for a
    download streamed after the view has returned (common.csv_export)."""
    with as_reporting_role(alias), connections[alias].chunked_cursor() as cursor:
        cursor.execute(native_sql(panel), filters.parameters())
        while rows := cursor.fetchmany(CHUNK_ROWS):
            yield from rows
