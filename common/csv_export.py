"""CSV downloads, streamed: the pages' tables, the dashboards' panels and the API's lists.

A download may hold every run ever stored (the run explorer's), so nothing holds the whole
result. Rows come from a server-side cursor (DECLARE, then FETCH a chunk at a time) inside one
read transaction, and leave as CSV text a chunk at a time through a StreamingHttpResponse:
memory stays at one chunk of rows whatever the size (bench/csv_export.py measures it).

One rule writes every cell, on every surface:
- nothing (NULL) is an empty cell; booleans are ``true`` / ``false``; durations are seconds;
- moments are ISO 8601 in UTC;
- JSON values (run metadata) are compact JSON text;
- text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, a tab or a
  carriage return first) gets a leading ``'``: error messages and names come from the
  schedulers, not from CHM (OWASP's advice against CSV injection).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import QuerySet
from django.http import StreamingHttpResponse

# Rows per FETCH and per chunk sent: small enough to keep memory flat, large enough that the
# round trips and the writes to the socket do not dominate.
CHUNK_ROWS = 2000
CONTENT_TYPE = "text/csv; charset=utf-8"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_value(value: object) -> object:
    """One cell, by the module's rule; numbers stay numbers for csv.writer."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A whole (small) CSV document; for streams, see csv_chunks."""
    return "".join(csv_chunks(header, rows))


def csv_chunks(
    header: Sequence[str], rows: Iterable[Sequence[object]], *, rows_per_chunk: int = CHUNK_ROWS
) -> Iterator[str]:
    """The header line, then the rows as CSV text, ``rows_per_chunk`` rows a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for written, row in enumerate(rows, start=1):
        writer.writerow([csv_value(value) for value in row])
        if written % rows_per_chunk == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


@dataclass(frozen=True)
class CsvTable:
    """What a download holds: the header and the rows, the rows possibly still unread."""

    header: tuple[str, ...]
    rows: Iterable[Sequence[object]]


def view_columns(queryset: QuerySet) -> tuple[str, ...]:
    """Every column of the queryset's model, in its order: for the reporting views, the
    view's documented columns (docs/dashboards.md)."""
    return tuple(field.attname for field in queryset.model._meta.concrete_fields)


def queryset_table(
    queryset: QuerySet, fields: Sequence[str] = (), *, header: Sequence[str] = ()
) -> CsvTable:
    """``fields`` of every row of ``queryset`` (all its model's columns by default), streamed.

    The database alias is chosen now, while the request is being handled: the replica router
    reads a flag that ReplicaReadsMiddleware clears once the view returns, before the body
    is streamed. The rows are read later, while the response is sent, inside one transaction:
    there the named cursor needs no WITH HOLD, which would make PostgreSQL materialise the
    whole result before the first row leaves.
    """
    fields = tuple(fields) or view_columns(queryset)
    alias = queryset.db
    rows = queryset.using(alias).values_list(*fields)

    def stream() -> Iterator[tuple]:
        with transaction.atomic(using=alias):
            yield from rows.iterator(chunk_size=CHUNK_ROWS)

    return CsvTable(tuple(header) or fields, stream())


def _closing_chunks(table: CsvTable) -> Iterator[str]:
    # A download the client abandons is closed by the server: close the rows too, so that
    # their transaction ends (rolled back) now rather than whenever the collector runs.
    try:
        yield from csv_chunks(table.header, table.rows)
    finally:
        close = getattr(table.rows, "close", None)
        if close is not None:
            close()


def csv_response(table: CsvTable, *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(_closing_chunks(table), content_type=CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # Filtered, staff-only figures: no shared cache keeps a copy.
    response["Cache-Control"] = "private, no-store"
    return response
