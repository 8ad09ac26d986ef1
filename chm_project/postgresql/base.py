"""CHM's database backend: django-prometheus's PostgreSQL backend (query counts and errors
exported as metrics) with a connection health check that costs no round trip while the
connection is idle and sound.

Django checks a persistent connection before the first query of every request
(``CONN_HEALTH_CHECKS``) by sending ``SELECT 1``: a round trip per request, as much as the key
lookup of an ingest request costs. Between requests an idle connection has nothing to read: the
server speaks only when asked, except when it ends the session (a restart, a terminated backend,
an idle timeout: it sends a last error and closes the socket) or in a rare unsolicited message
(a changed server parameter). So a connection that is idle, outside a transaction, with nothing
to read passes as it is, and any other gets Django's own ``SELECT 1``, which drops a dead
connection before the request uses it. A peer that vanished without closing (the network, not
the server) is noticed as before: by the query that fails or times out, answered 503
(chm_project/middleware.py), after which the next request opens a new connection.
"""

from __future__ import annotations

import select

from django_prometheus.db.backends.postgresql import base
from psycopg import pq


def _idle_and_quiet(connection) -> bool:
    """True when the psycopg ``connection`` is open, outside any transaction, and the server
    sent nothing since the last answer."""
    if connection.closed or connection.broken:
        return False
    pgconn = connection.pgconn
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        return False
    poller = select.poll()
    poller.register(pgconn.socket, select.POLLIN | select.POLLPRI)
    return not poller.poll(0)


class DatabaseWrapper(base.DatabaseWrapper):
    def close_if_health_check_failed(self) -> None:
        if (
            self.connection is not None
            and self.health_check_enabled
            and not self.health_check_done
            and not self.pool
            and _idle_and_quiet(self.connection)
        ):
            self.health_check_done = True
            return
        super().close_if_health_check_failed()
