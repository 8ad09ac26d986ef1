"""Evaluate the rules covering a pipeline right after terminal runs for it are ingested.

Ingestion only hands the pipeline ids over (after its commit); one background thread per
process evaluates them, so a slow webhook never holds up an ingest request. The thread waits a
second before each pass, and ids that arrive meanwhile (or while a pass runs) are merged into
one evaluation: at most one pass per second, however fast runs arrive. The thread exits when there is nothing
left to do. The periodic ``evaluate_alerts`` command remains the safety net: whatever this
misses (a full queue, a process that stops) it catches at its next pass.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Iterable

from django.conf import settings
from django.db import connection

from alerts.evaluation import evaluate_alerts

logger = logging.getLogger(__name__)

# Pipelines waiting for evaluation in this process; beyond this, ids are left to the
# periodic evaluator instead of growing memory without bound.
MAX_WAITING_PIPELINES = 10_000
# The evaluator waits this long before each pass, so that the pipelines of a burst of ingest
# calls share one evaluation instead of each paying for its own.
SETTLE_SECONDS = 1.0
# A process that is exiting (a loader command, a recycled worker) gives the evaluation in
# progress this long to finish, rather than killing it halfway through a delivery.
EXIT_GRACE_SECONDS = 30


class IngestEvaluator:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: set[int] = set()
        self._thread: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self._exit_hook_registered = False

    def submit(self, pipeline_ids: Iterable[int]) -> None:
        with self._lock:
            room = MAX_WAITING_PIPELINES - len(self._waiting)
            new = set(pipeline_ids) - self._waiting
            if len(new) > room:
                logger.warning(
                    "%d pipelines left to the periodic alert evaluation: queue full",
                    len(new) - room,
                )
                new = set(sorted(new)[: max(room, 0)])
            if not new:
                return
            self._waiting |= new
            self._idle.clear()
            if not self._exit_hook_registered:
                # Runs before the interpreter stops daemon threads.
                atexit.register(self.wait_until_idle, EXIT_GRACE_SECONDS)
                self._exit_hook_registered = True
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._drain, name="chm-alerts-on-ingest", daemon=True
                )
                self._thread.start()

    def wait_until_idle(self, timeout: float) -> bool:
        """True once everything submitted has been evaluated (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def _drain(self) -> None:
        while True:
            time.sleep(SETTLE_SECONDS)
            with self._lock:
                batch, self._waiting = self._waiting, set()
                if not batch:
                    # Decided under the lock, so a concurrent submit starts a new thread.
                    self._thread = None
                    self._idle.set()
                    return
            try:
                evaluate_alerts(pipeline_ids=batch)
            except Exception:
                logger.exception("alert evaluation after ingest failed for pipelines %s", batch)
            finally:
                # This thread's own connection: never left open between batches.
                connection.close()


ingest_evaluator = IngestEvaluator()


def evaluate_after_ingest(sender: object, *, pipeline_ids: Iterable[int], **kwargs: object) -> None:
    """Receiver of ``runs.signals.terminal_runs_ingested`` (sent after commit)."""
    if settings.CHM_ALERTS_EVALUATE_ON_INGEST:
        ingest_evaluator.submit(pipeline_ids)
