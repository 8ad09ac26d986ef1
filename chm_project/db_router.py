"""Send page reads to the read replica; keep everything else on the primary.

A read goes to the ``replica`` alias only when both hold:

- the code runs inside ``replica_reads()`` — ReplicaReadsMiddleware opens it around GET and
  HEAD requests to the pages; the API, the admin and every write never do;
- the model belongs to the monitoring data (clients, pipelines, runs, alert rules and the
  reporting views). Sessions, users and permissions always come from the primary, so a login
  or a logout is seen on the very next request even while the replica lags.

Writes always go to the primary. Raw SQL reads that should follow the same rule take their
alias from ``django.db.router.db_for_read(Model)``; ``Model.objects.raw()`` goes through the
router already.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from django.conf import settings

REPLICA_ALIAS = "replica"
PRIMARY_ALIAS = "default"
# Apps whose tables a streaming replica serves to the pages (the reporting views' unmanaged
# models belong to "runs").
REPLICA_APP_LABELS = frozenset({"inventory", "runs", "alerts"})

_reading_from_replica: ContextVar[bool] = ContextVar("chm_reading_from_replica", default=False)


def replica_configured() -> bool:
    return REPLICA_ALIAS in settings.DATABASES


@contextlib.contextmanager
def replica_reads() -> Iterator[None]:
    """Within this block, monitoring-data reads go to the replica when one is configured."""
    token = _reading_from_replica.set(True)
    try:
        yield
    finally:
        _reading_from_replica.reset(token)


def read_alias(app_label: str) -> str:
    """The database alias a read of ``app_label``'s data uses right now (also for raw SQL)."""
    if _reading_from_replica.get() and app_label in REPLICA_APP_LABELS and replica_configured():
        return REPLICA_ALIAS
    return PRIMARY_ALIAS


class ReplicaRouter:
    def db_for_read(self, model, **hints) -> str:
        return read_alias(model._meta.app_label)

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY_ALIAS

    def allow_relation(self, obj1, obj2, **hints) -> bool:
        # Both aliases hold the same data: the replica is a physical copy of the primary.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints) -> bool:
        # The replica replays the primary's WAL; migrating it directly is impossible.
        return db == PRIMARY_ALIAS
