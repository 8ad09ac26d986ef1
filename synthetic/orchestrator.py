"""The steps of the demo data set: generate the files, ingest them, validate the result.

Each step records its progress in the session state file (``synthetic.state``): a rerun skips
what is recorded with a matching checksum, an interrupted run resumes after its last recorded
batch, and a finished run writes nothing.

Ingestion shifts every timestamp by ``shift_days`` whole days (from the set's anchor date to
the current UTC date, fixed when ingestion into a target starts and kept in the state), so the
data looks current whenever it is loaded, while the files never change.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthetic import generator
from synthetic.state import SessionState

DEFAULT_OUT = Path("data/synthetic/v1.1")


class Interrupted(Exception):
    """Raised by ``stop_after``: a simulated interruption, for tests."""


@dataclass
class StepReport:
    written: list[str] = field(default_factory=list)
    skipped: int = 0
    summary: Counter[str] = field(default_factory=Counter)
    already_loaded: bool = False


def parameters(*, seed: int, days: int, clients: int) -> dict[str, Any]:
    return {
        "anchor": generator.iso(generator.ANCHOR),
        "clients": clients,
        "days": days,
        "format": generator.FORMAT_VERSION,
        "seed": seed,
    }


def generate(
    *,
    out: Path,
    state: SessionState,
    data: generator.DataSet,
    stop_after: int | None = None,
    progress: bool = False,
) -> StepReport:
    """Write every file of ``data`` under ``out`` that is missing or differs from its record."""
    report = StepReport()
    files = data.files()
    checksums = {name: generator.sha256(content) for name, content in files.items()}
    todo = []
    for name in files:
        on_disk = _file_checksum(out / name)
        if on_disk == checksums[name]:
            # Already there (this run's earlier self, or a checkout of the committed set).
            if state.generated_checksum(name) != checksums[name]:
                state.record_generated(name, checksums[name])
            report.skipped += 1
        else:
            todo.append(name)
    for name in _progress(todo, "generate", enabled=progress and bool(todo)):
        if stop_after is not None and len(report.written) >= stop_after:
            raise Interrupted(f"stopped after {stop_after} files")
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[name])
        state.record_generated(name, checksums[name])
        report.written.append(name)
    # Batches of an earlier, larger set would be ingested by mistake: remove them.
    for stray in sorted((out / "batches").glob("batch-*.json")):
        if f"batches/{stray.name}" not in files:
            stray.unlink()
            report.written.append(f"removed {stray.name}")
    if report.written or not state.generation_complete:
        state.finish_generation(checksums)
    return report


def shift_days_for(today: dt.date) -> int:
    return (today - generator.ANCHOR.date()).days


def shift_items(items: list[Mapping[str, Any]], days: int) -> list[dict[str, Any]]:
    """Move every aware timestamp by whole days; anything else (a bad item) stays as it is."""
    delta = dt.timedelta(days=days)
    shifted = []
    for item in items:
        copy = dict(item)
        for key in ("started_at", "finished_at"):
            value = copy.get(key)
            if isinstance(value, str) and value.endswith("Z"):
                try:
                    moment = dt.datetime.fromisoformat(value)
                except ValueError:
                    continue
                copy[key] = generator.iso(moment + delta)
        shifted.append(copy)
    return shifted


def ingest(
    *,
    out: Path,
    state: SessionState,
    target: str,
    send: Callable[[str, list[dict[str, Any]]], dict[str, int]],
    already_loaded: Callable[[], bool] = lambda: False,
    today: dt.date | None = None,
    stop_after: int | None = None,
    progress: bool = False,
) -> StepReport:
    """Send every batch not yet recorded for ``target``: ``send(client_slug, items)``.

    The batches are read from the files (checked against the generation record), not from
    memory: what is ingested is what is committed.
    """
    report = StepReport()
    entry = state.ingestion(target)
    if entry is None:
        if already_loaded():
            report.already_loaded = True
            return report
        today = today or dt.datetime.now(dt.UTC).date()
        entry = state.start_ingestion(target, shift_days=shift_days_for(today))
    if entry["complete"]:
        report.skipped = len(entry["batches"])
        return report
    shift = entry["shift_days"]
    names = sorted(name for name in state.data["generated"]["files"] if name.startswith("batches/"))
    sent = 0
    for name in _progress(names, "ingest", enabled=progress):
        content = (out / name).read_bytes()
        checksum = generator.sha256(content)
        if checksum != state.generated_checksum(name):
            raise RuntimeError(f"{out / name} differs from what was generated; regenerate first.")
        recorded = entry["batches"].get(name)
        if recorded and recorded["sha256"] == checksum:
            report.skipped += 1
            continue
        if stop_after is not None and sent >= stop_after:
            raise Interrupted(f"stopped after {stop_after} batches")
        batch = json.loads(content)
        summary = send(batch["client"], shift_items(batch["items"], shift))
        state.record_batch(target, name, checksum=checksum, summary=summary)
        report.summary.update(summary)
        report.written.append(name)
        sent += 1
    state.finish_ingestion(target)
    return report


def ingestion_totals(state: SessionState, target: str) -> dict[str, int]:
    totals: Counter[str] = Counter()
    entry = state.ingestion(target) or {"batches": {}}
    for batch in entry["batches"].values():
        totals.update(batch["summary"])
    return dict(sorted(totals.items()))


def _file_checksum(path: Path) -> str | None:
    try:
        return generator.sha256(path.read_bytes())
    except FileNotFoundError:
        return None


def _progress(items: list[str], description: str, *, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, unit="file")
