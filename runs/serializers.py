"""What a reported run must look like: the ingestion item, validated by DRF.

``RunItemSerializer`` is the one definition of an item (docs/api.md): runs/ingest.py validates
every item with it, and the OpenAPI schema describes the same class. It refuses, naming the
field, anything PostgreSQL would refuse later (text it cannot store, values too long in their
text form, JSON it cannot hold) and anything a run cannot be (control characters in names and
ids, times outside the bounds of ``runs.limits.run_time_error``), with the checks of
runs/limits.py, so a bad item is rejected on its own and never sinks the batch it came in.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from runs import limits
from runs.statuses import SOURCE_STATUS_KEY, canonical_status, is_terminal
from runs.transitions import RunFields

EXTERNAL_RUN_ID_MAX_LENGTH = 255
PIPELINE_SLUG_MAX_LENGTH = 200
STATUS_MAX_LENGTH = 64


@extend_schema_field({"type": "string"})
class StrictTextField(serializers.Field):
    """A name or an id: refused when it is not a string (DRF's CharField would take 12 as
    "12"), blank after trimming, longer than ``max_length``, or not a name
    (``limits.identifier_error``)."""

    default_error_messages = {
        "invalid": "Must be a string.",
        "blank": "Must not be empty.",
        "max_length": "At most {max_length} characters.",
    }

    def __init__(self, *, max_length: int, **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return self.checked(data.strip())

    def checked(self, value: str) -> str:
        if not value:
            self.fail("blank")
        if len(value) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        problem = limits.identifier_error(value)
        if problem:
            raise ValidationError(problem)
        return value

    def to_representation(self, value: str) -> str:
        return value


@extend_schema_field(
    {"oneOf": [{"type": "string", "maxLength": EXTERNAL_RUN_ID_MAX_LENGTH}, {"type": "integer"}]}
)
class ExternalRunIdField(StrictTextField):
    """The scheduler's run id. Some schedulers number their runs: an integer is taken as its
    decimal text, which must fit like any other id."""

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, int) and not isinstance(data, bool):
            try:
                return self.checked(str(data))
            except ValueError:  # more digits than Python converts to text
                self.fail("max_length", max_length=self.max_length)
        return super().to_internal_value(data)


class StatusField(StrictTextField):
    """A canonical status or a scheduler's spelling of one (runs/statuses.py); validates to
    ``(canonical, spelling)``."""

    default_error_messages = {
        "unknown": (
            "Unknown status {spelling!r}. Use queued, running, success, failed, canceled or "
            "skipped (scheduler spellings are listed in docs/api.md)."
        ),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=STATUS_MAX_LENGTH, **kwargs)

    def to_internal_value(self, data: Any) -> tuple[str, str]:
        spelling = super().to_internal_value(data)
        status = canonical_status(spelling)
        if status is None:
            self.fail("unknown", spelling=spelling)
        return status, spelling


@extend_schema_field({"type": "string", "format": "date-time"})
class TimestampField(serializers.Field):
    """An ISO-8601 timestamp with a time zone (or an aware datetime from Python callers) that
    ``limits.run_time_error`` takes for a run's time; validates to UTC."""

    default_error_messages = {
        "invalid": "Not an ISO-8601 timestamp (example: 2026-03-01T02:00:00Z).",
        "type": "Must be an ISO-8601 timestamp string.",
        "naive": "Needs a time zone: end it with Z or an offset such as +02:00.",
        "range": "Out of the supported range (years 1 to 9999).",
    }

    def to_internal_value(self, data: Any) -> dt.datetime:
        if isinstance(data, dt.datetime):
            parsed = data
        elif isinstance(data, str):
            try:
                parsed = dt.datetime.fromisoformat(data.strip())
            except ValueError:
                self.fail("invalid")
        else:
            self.fail("type")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            self.fail("naive")
        try:
            # In UTC from here on: PostgreSQL refuses offsets beyond ±15:59 that Python takes.
            value = parsed.astimezone(dt.UTC)
        except OverflowError:
            self.fail("range")
        problem = limits.run_time_error(value)
        if problem:
            raise ValidationError(problem)
        return value

    def to_representation(self, value: dt.datetime) -> str:
        return value.isoformat()


@extend_schema_field({"type": "string"})
class ErrorMessageField(serializers.Field):
    """Free text, cut at the configured length (never refused for being long). NUL bytes are
    dropped: PostgreSQL text cannot hold them and a reader sees nothing of them."""

    default_error_messages = {"invalid": "Must be a string."}

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        text = data.replace("\x00", "")
        problem = limits.text_error(text)
        if problem:
            raise ValidationError(problem)
        return limits.truncate_error_message(text)

    def to_representation(self, value: str) -> str:
        return value


# Metadata as jsonb will hold it, measured in bytes. allow_nan=False: jsonb refuses NaN and
# Infinity. One encoder for every item: json.dumps builds a new one per call when given options.
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False, ensure_ascii=False)


@extend_schema_field({"type": "object", "additionalProperties": True})
class MetadataField(serializers.Field):
    """A JSON object that PostgreSQL's jsonb can hold, at most ``limits.max_metadata_bytes()``
    as compact JSON."""

    default_error_messages = {
        "invalid": "Must be a JSON object.",
        "values": "Must contain only JSON values (no NaN or Infinity).",
        "text": "{path}: {problem}",
        "size": "Too large: at most {limit} bytes of JSON.",
    }

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            self.fail("invalid")
        try:
            encoded = _COMPACT_JSON.encode(data)
            size = len(encoded.encode())
        except (TypeError, ValueError, RecursionError):
            # A text PostgreSQL cannot store is named first, whatever else is wrong.
            self._fail_on_unstorable_text(data)
            self.fail("values")
        # The encoding holds every string and key: without a NUL (which it writes as \u0000)
        # and a lone surrogate (which made encode() fail above), no text needs a closer look.
        if "\\u0000" in encoded:
            self._fail_on_unstorable_text(data)
        limit = limits.max_metadata_bytes()
        if size > limit:
            self.fail("size", limit=limit)
        return dict(data)

    def _fail_on_unstorable_text(self, data: Mapping[str, Any]) -> None:
        unstorable = limits.unstorable_text(data)
        if unstorable:
            self.fail("text", path=unstorable[0], problem=unstorable[1])

    def to_representation(self, value: dict[str, Any]) -> dict[str, Any]:
        return value


class RunItemSerializer(serializers.Serializer):
    """One reported run: the item of a single-run POST and of a batch (docs/api.md)."""

    default_error_messages = {"invalid": "Each run must be a JSON object."}

    pipeline = StrictTextField(
        max_length=PIPELINE_SLUG_MAX_LENGTH,
        help_text="The pipeline's slug, within the key's client.",
    )
    external_run_id = ExternalRunIdField(
        max_length=EXTERNAL_RUN_ID_MAX_LENGTH,
        help_text="The scheduler's own run id (text, or an integer): the idempotency key.",
    )
    status = StatusField(
        help_text="queued, running, success, failed, canceled, skipped, or a scheduler's "
        "spelling of them (docs/api.md); the spelling is kept in metadata.source_status."
    )
    started_at = TimestampField(help_text="ISO-8601 with a time zone.")
    finished_at = TimestampField(
        required=False,
        allow_null=True,
        help_text="ISO-8601 with a time zone; required for terminal statuses only.",
    )
    error_message = ErrorMessageField(required=False, allow_null=True)
    metadata = MetadataField(required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            self.fail("invalid")
        # A misspelt field (finshed_at) must not silently drop what it carried.
        unknown = {
            limits.printable(str(name)): ["Unknown field."]
            for name in data
            if name not in self.fields
        }
        try:
            value = super().to_internal_value(data)
        except ValidationError as exc:
            raise ValidationError({**unknown, **exc.detail}) from exc
        if unknown:
            raise ValidationError(unknown)
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        status, _ = attrs["status"]
        finished_at = attrs.get("finished_at")
        if is_terminal(status) and finished_at is None:
            raise ValidationError({"finished_at": [f"Required for a {status} run."]})
        if not is_terminal(status) and finished_at is not None:
            raise ValidationError({"finished_at": [f"Must be empty while a run is {status}."]})
        if finished_at is not None and finished_at < attrs["started_at"]:
            raise ValidationError({"finished_at": ["Must not be before started_at."]})
        return attrs


def run_fields(attrs: Mapping[str, Any]) -> RunFields:
    """The event a validated item reports, with the sender's spelling of its status kept in
    its metadata."""
    status, spelling = attrs["status"]
    return RunFields(
        status=status,
        started_at=attrs["started_at"],
        finished_at=attrs.get("finished_at"),
        error_message=attrs.get("error_message") or "",
        metadata={**(attrs.get("metadata") or {}), SOURCE_STATUS_KEY: spelling},
    )
