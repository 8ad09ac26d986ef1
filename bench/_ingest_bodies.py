"""What the ingestion benchmarks send: one run for ``POST /api/v1/runs/`` and one OpenLineage
RunEvent for ``POST /api/v1/lineage``, over the pipelines ``p0`` … ``p<pipelines - 1>``."""

from __future__ import annotations

import datetime as dt

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def run_item(number: int, prefix: str, pipelines: int) -> dict:
    started = T0 + dt.timedelta(seconds=number)
    return {
        "pipeline": f"p{number % pipelines}",
        "external_run_id": f"{prefix}-{number}",
        "status": "success",
        "started_at": started.isoformat(),
        "finished_at": (started + dt.timedelta(minutes=3)).isoformat(),
        "metadata": {"attempt": 1},
    }


def lineage_event(number: int, event_type: str, pipelines: int) -> dict:
    """Run ``number``'s START or COMPLETE (three minutes later)."""
    when = T0 + dt.timedelta(seconds=number, minutes=0 if event_type == "START" else 3)
    return {
        "eventType": event_type,
        "eventTime": when.isoformat(),
        "producer": "https://example.com/chm-bench",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": f"00000000-0000-7000-8000-{number:012d}"},
        "job": {"namespace": "bench", "name": f"p{number % pipelines}"},
        "inputs": [],
        "outputs": [],
    }
