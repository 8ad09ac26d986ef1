"""The state files of the demo data set: what is generated, and what is ingested and validated.

Two files, so that a checkout stays clean: the generation state (``--state-file``, committed
with the set: the parameters and a checksum per generated file) is the same on every machine,
while the ingestion state (``--ingest-state-file``, under ``var/``, never committed: the batches
ingested per target and the validation report's checksums) belongs to one developer's
databases. Each file names the parameters of its set and is refused for another one.

Both are rewritten (to a temporary file, then renamed) after every step and every batch, so an
interrupted run finds them intact and resumes after the last step they record.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STATE_FORMAT = 1
# What each file holds besides "format" and "parameters". An older ingestion state that was
# a whole state file (generation included) still reads: its generation part is ignored.
GENERATION_PARTS = ("generated",)
INGESTION_PARTS = ("ingested", "validated")


class StateMismatch(Exception):
    """A state file describes another data set (another seed or size)."""


@dataclass
class SessionState:
    path: Path
    # None when the run neither ingests nor validates: the ingestion state is not read then.
    ingest_path: Path | None = None
    data: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(
        cls, path: Path, *, parameters: dict[str, Any], ingest_path: Path | None = None
    ) -> SessionState:
        """Open (or start) the state for a data set built with ``parameters``."""
        if ingest_path is not None and ingest_path.resolve() == path.resolve():
            raise ValueError(
                f"--state-file and --ingest-state-file are both {path}: the generation state "
                "is committed, the ingestion state is not; give them two files."
            )
        data: dict[str, Any] = {
            "format": STATE_FORMAT,
            "parameters": parameters,
            "generated": {"files": {}, "complete": False},
            "validated": {"files": {}, "complete": False},
            "ingested": {},
        }
        files = [(path, "--state-file", GENERATION_PARTS)]
        if ingest_path is not None:
            files.append((ingest_path, "--ingest-state-file", INGESTION_PARTS))
        for file, option, parts in files:
            if not file.exists():
                continue
            recorded = json.loads(file.read_text(encoding="utf-8"))
            if recorded.get("parameters") != parameters:
                raise StateMismatch(
                    f"{file} records a data set built with {recorded.get('parameters')}, not "
                    f"{parameters}: pass the same options, or another {option}."
                )
            data.update({part: recorded[part] for part in parts if part in recorded})
        return cls(path=path, ingest_path=ingest_path, data=data)

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
        self._save_generation()

    def finish_generation(self, files: dict[str, str]) -> None:
        self.data["generated"] = {"files": dict(sorted(files.items())), "complete": True}
        self._save_generation()

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
        self._save_ingestion()
        return entry

    def record_batch(
        self, target: str, name: str, *, checksum: str, summary: dict[str, int]
    ) -> None:
        entry = self.data["ingested"][target]
        entry["batches"][name] = {"sha256": checksum, "summary": summary}
        self._save_ingestion()

    def finish_ingestion(self, target: str) -> None:
        self.data["ingested"][target]["complete"] = True
        self._save_ingestion()

    # --- validation ---

    def record_validation(self, files: dict[str, str]) -> None:
        self.data["validated"] = {"files": dict(sorted(files.items())), "complete": True}
        self._save_ingestion()

    def _save_generation(self) -> None:
        self._save(self.path, GENERATION_PARTS)

    def _save_ingestion(self) -> None:
        if self.ingest_path is None:
            raise RuntimeError("this state was opened without an ingestion state file")
        self._save(self.ingest_path, INGESTION_PARTS)

    def _save(self, path: Path, parts: tuple[str, ...]) -> None:
        content = {"format": STATE_FORMAT, "parameters": self.data["parameters"]}
        content.update({part: self.data[part] for part in parts})
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        temporary.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n", "utf-8")
        os.replace(temporary, path)
