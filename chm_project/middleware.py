"""Middleware that keeps CHM answering when its own dependencies fail, and says what it did."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.db import DataError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import Counter

from api.middleware import response_outcome
from chm_project.db_router import replica_reads
from inventory.keys import KEY_MARKER, PREFIX_LENGTH

request_logger = logging.getLogger("chm.requests")
logger = logging.getLogger(__name__)

# Seconds a client should wait before retrying while the database is unavailable.
DATABASE_RETRY_AFTER_SECONDS = 5

DATABASE_UNAVAILABLE = Counter(
    "chm_database_unavailable_total",
    "Requests answered 503 because PostgreSQL was unreachable or dropped the connection.",
    ["exception"],
)


class DatabaseUnavailableMiddleware:
    """Answer 503 (JSON, with Retry-After) when PostgreSQL cannot be reached, drops the
    connection, or cancels a statement at its timeout, instead of a 500 page.

    Whatever the view was writing is rolled back with the connection, so a client that sees
    this answer knows nothing was acknowledged and can resend: ingestion is idempotent.
    Django closes the broken connection at the end of the request, and the next request opens
    a new one (health-checked persistent connections), so CHM recovers without a restart.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        DATABASE_UNAVAILABLE.labels(exception=type(exception).__name__).inc()
        # One line, no traceback: during an outage every request would print the same one.
        logger.warning("Database unavailable on %s %s: %s", request.method, request.path, exception)
        response = JsonResponse(
            {
                "detail": "The database is unavailable or did not answer in time. "
                "Send again later: ingestion is idempotent."
            },
            status=503,
        )
        response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
        return response


class DatabaseRefusedValueMiddleware:
    """Answer 400, not 500, when PostgreSQL refuses a value that passed validation (a time
    zone offset beyond ±15:59, a number out of range): the request is at fault, and the
    statement was rolled back. Validation should catch such values first; this is the net.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, DataError):
            return None
        logger.warning(
            "Database refused a value on %s %s: %s", request.method, request.path, exception
        )
        # PostgreSQL's own words stay in the log: they name tables, columns and constraints.
        return JsonResponse(
            {"detail": "A value in the request is out of range for CHM; nothing was stored."},
            status=400,
        )


class ReplicaReadsMiddleware:
    """Serve GET and HEAD requests to the pages from the read replica (see db_router).

    The API stays on the primary (a client reading back what it just sent must see it), and
    so does the admin (staff editing inventory must see their own changes).
    """

    PRIMARY_ONLY_PREFIXES = ("/api/", "/admin/", "/healthz", "/metrics")

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("GET", "HEAD") and not request.path.startswith(
            self.PRIMARY_ONLY_PREFIXES
        ):
            with replica_reads():
                return self.get_response(request)
        return self.get_response(request)


class RequestLogMiddleware:
    """With REQUEST_LOG_JSON on, one JSON line per request: what was asked, by which key,
    what came of it and how long it took.

    The key appears only as its visible prefix (``chm_xxxxxxxx``), the same prefix the admin
    shows; the rest of the key never reaches a log.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.REQUEST_LOG_JSON:
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        duration_ms = (time.perf_counter() - started) * 1000
        request_logger.info(json.dumps(request_log_fields(request, response, duration_ms)))
        return response


def request_log_fields(request: HttpRequest, response: HttpResponse, duration_ms: float) -> dict:
    fields = {
        "ts": timezone.now().isoformat(timespec="milliseconds"),
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "outcome": response_outcome(response.status_code),
        "duration_ms": round(duration_ms, 1),
        "key_prefix": presented_key_prefix(request),
    }
    user = getattr(request, "user", None)
    if user is not None and getattr(user, "is_authenticated", False) and user.is_staff:
        fields["staff_user"] = user.get_username()
    # Ingestion views record what became of each item (created, updated, unchanged, rejected).
    item_outcomes = getattr(request, "chm_ingest_outcomes", None)
    if item_outcomes:
        fields["items"] = item_outcomes
    return fields


def presented_key_prefix(request: HttpRequest) -> str | None:
    """The visible prefix of the bearer key the request presented, if it looks like a CHM key."""
    header = request.headers.get("Authorization", "")
    scheme, _, credential = header.partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential.startswith(KEY_MARKER):
        return None
    return credential[:PREFIX_LENGTH]
