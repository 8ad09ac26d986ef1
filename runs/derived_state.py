"""Derived state after writes that bypass ingestion: pruning, bulk loads, test factories.

Ingestion keeps each pipeline's run state and the rollup's exactness run by run
(runs/ingest.py). A writer that changes runs wholesale calls ``runs_rewritten`` in its own
transaction, after its writes, with the pipelines and UTC days it touched: the state of those
pipelines is recomputed from their runs, and the closed days lose their rollup until the next
refresh counts them again. It takes the same locks as ingestion, in the same order (state rows
first: they must exist, see ``pipeline_state.ensure_rows``; then the day locks).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction

from runs import pipeline_state, rollups


def runs_rewritten(*, pipeline_ids: Iterable[int], days: Iterable[dt.date]) -> None:
    # A transaction of its own when the caller has none (its writes then committed before).
    with transaction.atomic():
        pipeline_state.refresh(pipeline_ids)
        rollups.runs_written(days)
