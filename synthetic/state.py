"""The session state file: what is generated, ingested and validated, with checksums.

It is rewritten (to a temporary file, then renamed) after every step and every batch, so an
interrupted run finds an intact state and resumes after the last step it records.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_FORMAT = 1


class StateMismatch(Exception):
    """The state file describes another data set (another seed or size)."""


@dataclass
class SessionState:
    path: Path
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path, *, parameters: dict[str, Any]) -> SessionState:
        """Open (or start) the state for a data set built with ``parameters``."""
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("parameters") != parameters:
                raise StateMismatch(
                    f"{path} records a data set built with {data.get('parameters')}, not "
                    f"{parameters}: pass the same options, or another --state-file."
                )
            return cls(path=path, data=data)
        return cls(
            path=path,
            data={
                "format": STATE_FORMAT,
                "parameters": parameters,
                "generated": {"files": {}, "complete": False},
                "validated": {"files": {}, "complete": False},
                "ingested": {},
            },
        )

    @staticmethod
    def peek_parameters(path: Path) -> dict[str, Any] | None:
        if not path.exists():
            return None
        return json.loads(path.read_text(encoding="utf-8")).get("parameters")

    # --- generation ---

    def generated_checksum(self, name: str) -> str | None:
        return self.data["generated"]["files"].get(name)

    def record_generated(self, name: str, checksum: str) -> None:
        self.data["generated"]["files"][name] = checksum
        self.data["generated"]["complete"] = False
        self.save()

    def finish_generation(self, files: dict[str, str]) -> None:
        self.data["generated"] = {"files": dict(sorted(files.items())), "complete": True}
        self.save()

    @property
    def generation_complete(self) -> bool:
        return bool(self.data["generated"]["complete"])

    # --- ingestion, per target (a database or an API URL) ---

    def ingestion(self, target: str) -> dict[str, Any] | None:
        return self.data["ingested"].get(target)

    def start_ingestion(self, target: str, *, shift_days: int) -> dict[str, Any]:
        entry = self.data["ingested"].setdefault(
            target, {"shift_days": shift_days, "batches": {}, "complete": False}
        )
        self.save()
        return entry

    def record_batch(
        self, target: str, name: str, *, checksum: str, summary: dict[str, int]
    ) -> None:
        entry = self.data["ingested"][target]
        entry["batches"][name] = {"sha256": checksum, "summary": summary}
        self.save()

    def finish_ingestion(self, target: str) -> None:
        self.data["ingested"][target]["complete"] = True
        self.save()

    # --- validation ---

    def record_validation(self, files: dict[str, str]) -> None:
        self.data["validated"] = {"files": dict(sorted(files.items())), "complete": True}
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_text(json.dumps(self.data, indent=2, sort_keys=True) + "\n", "utf-8")
        os.replace(temporary, self.path)
