"""Inventory as code: load clients, pipelines and alert rules from a JSON or YAML document.

The document states what should exist::

    version: 1
    clients:
      - slug: acme
        name: Acme Corp
        pipelines:
          - {slug: orders-etl, platform: airflow, owner: data-platform, freshness_minutes: 1440}
        alert_rules:
          - {name: Orders failing, kind: consecutive_failures, threshold: 3,
             pipeline: orders-etl, target: oncall@acme.example}

Loading is idempotent: clients are matched by slug, pipelines by (client, slug), alert rules by
(client, name). A field left out takes its default, so the file is the whole truth about what
it names; what it does not name is left alone (the loader never deletes). Keys are never part
of the file: a loaded client has none until one is rotated.

A bad document is refused whole, before anything is written, with every error located by its
path (``clients[0].pipelines[2].platform``) and, when the text allows it, its line.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from django.db import IntegrityError, models, transaction
from rest_framework import serializers

from inventory.models import Client, Pipeline, Platform, pipeline_slug_validator

FORMAT_VERSION = 1
PathKey = tuple[str | int, ...]


class InventoryError(Exception):
    """The document was refused; ``errors`` lists ``(location, message)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]):
        self.errors = errors
        super().__init__("\n".join(f"{where}: {message}" for where, message in errors))


@dataclass
class LoadResult:
    # entity ("clients", "pipelines", "alert_rules") -> outcome ("created", …) -> count
    counts: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, entity: str, outcome: str) -> None:
        self.counts.setdefault(entity, Counter())[outcome] += 1

    def summary(self) -> str:
        parts = []
        for entity in ("clients", "pipelines", *_CLIENT_SECTIONS):
            counts = self.counts.get(entity, Counter())
            detail = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            parts.append(f"{entity.replace('_', ' ')}: {detail or 'none'}")
        return "; ".join(parts)


class StrictSerializer(serializers.Serializer):
    """Refuses unknown keys: in a reviewed file a typo must not pass silently."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        unknown: dict[str, list[str]] = {}
        if isinstance(data, Mapping):
            unknown = {key: ["Unknown field."] for key in sorted(set(data) - set(self.fields))}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Report the unknown keys together with the other errors of the same object.
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from exc
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class PipelineInput(StrictSerializer):
    slug = serializers.CharField(max_length=200, validators=[pipeline_slug_validator])
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    platform = serializers.ChoiceField(choices=Platform.choices, default=Platform.CUSTOM)
    owner = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    description = serializers.CharField(required=False, default="", allow_blank=True)
    docs_url = serializers.URLField(max_length=500, required=False, default="", allow_blank=True)
    freshness_minutes = serializers.IntegerField(
        min_value=1, required=False, default=None, allow_null=True
    )
    is_active = serializers.BooleanField(default=True)


@dataclass(frozen=True)
class ClientSection:
    """A list under each client that an app above inventory loads, so that inventory imports
    none of them: alerts adds ``alert_rules`` (alerts/apps.py).

    ``check(client_slug, items, pipeline_slugs)`` returns what no single field can see, each
    error located within the list (``(2, "pipeline")``); ``pipeline_slugs`` are the client's
    pipelines, in the document or stored. ``load(client, pipelines, items)`` writes the items
    in the loader's transaction, ``pipelines`` being the document's by slug, and returns each
    item's outcome (created, updated or unchanged)."""

    key: str
    item: type[serializers.Serializer]
    check: Callable[[str, list[dict[str, Any]], set[str]], list[tuple[PathKey, str]]]
    load: Callable[[Client, dict[str, Pipeline], list[dict[str, Any]]], Iterable[str]]


_CLIENT_SECTIONS: dict[str, ClientSection] = {}


def add_client_section(section: ClientSection) -> None:
    _CLIENT_SECTIONS[section.key] = section


class ClientInput(StrictSerializer):
    slug = serializers.SlugField(max_length=100)
    name = serializers.CharField(max_length=200, required=False, default="", allow_blank=True)
    is_active = serializers.BooleanField(default=True)
    auto_register_pipelines = serializers.BooleanField(default=False)
    pipelines = PipelineInput(many=True, required=False, default=list)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for key, section in _CLIENT_SECTIONS.items():
            fields[key] = section.item(many=True, required=False, default=list)
        return fields


class InventoryInput(StrictSerializer):
    version = serializers.ChoiceField(choices=[FORMAT_VERSION], default=FORMAT_VERSION)
    clients = ClientInput(many=True, allow_empty=True)


def load_inventory_file(*, path: Path, dry_run: bool = False) -> LoadResult:
    """Read ``path`` (``.json``, ``.yaml`` or ``.yml``) and load it; see ``load_inventory``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InventoryError([(str(path), f"Cannot read the file: {exc}")]) from exc
    return load_inventory_text(text=text, name=str(path), dry_run=dry_run)


def load_inventory_text(
    *, text: str, name: str = "<inventory>", dry_run: bool = False
) -> LoadResult:
    document, lines = _parse(text, name=name)
    return load_inventory(document=document, lines=lines, dry_run=dry_run)


def load_inventory(
    *, document: Any, lines: Mapping[PathKey, int] | None = None, dry_run: bool = False
) -> LoadResult:
    """Validate the whole document, then create or update what it states in one transaction.

    ``lines`` maps paths to line numbers for the error messages. With ``dry_run`` the counts
    are computed and everything is rolled back.
    """
    lines = lines or {}
    serializer = InventoryInput(data=document)
    errors = [] if serializer.is_valid() else _flatten(serializer.errors)
    if not errors:
        errors = _cross_check(serializer.validated_data)
    if errors:
        raise InventoryError([(_locate(path, lines), message) for path, message in errors])

    result = LoadResult()
    try:
        with transaction.atomic():
            for client_data in serializer.validated_data["clients"]:
                _load_client(client_data, result)
            if dry_run:
                transaction.set_rollback(True)
    except IntegrityError as exc:
        # Only a concurrent load of the same names can get here: validation ran first.
        raise InventoryError([("<database>", f"Refused by the database, retry: {exc}")]) from exc
    return result


def _load_client(data: dict[str, Any], result: LoadResult) -> None:
    client, outcome = upsert(
        Client,
        lookup={"slug": data["slug"]},
        values={
            "name": data["name"] or data["slug"],
            "is_active": data["is_active"],
            "auto_register_pipelines": data["auto_register_pipelines"],
        },
    )
    result.count("clients", outcome)
    pipelines = {}
    for pipeline_data in data["pipelines"]:
        values = {key: value for key, value in pipeline_data.items() if key != "slug"}
        pipeline, outcome = upsert(
            Pipeline, lookup={"client": client, "slug": pipeline_data["slug"]}, values=values
        )
        pipelines[pipeline.slug] = pipeline
        result.count("pipelines", outcome)
    for key, section in _CLIENT_SECTIONS.items():
        for outcome in section.load(client, pipelines, data[key]):
            result.count(key, outcome)


def upsert(
    model: type[models.Model], *, lookup: dict[str, Any], values: dict[str, Any]
) -> tuple[models.Model, str]:
    """Create, or update only the fields that differ (so ``updated_at`` means a real change)."""
    instance = model.objects.select_for_update().filter(**lookup).first()
    if instance is None:
        return model.objects.create(**lookup, **values), "created"
    changed = [name for name, value in values.items() if getattr(instance, name) != value]
    if not changed:
        return instance, "unchanged"
    for name in changed:
        setattr(instance, name, values[name])
    instance.save(update_fields=[*changed, "updated_at"])
    return instance, "updated"


def _cross_check(data: dict[str, Any]) -> list[tuple[PathKey, str]]:
    """Errors no single field can see: duplicate slugs, and those of the client sections."""
    errors: list[tuple[PathKey, str]] = []
    seen_clients: dict[str, int] = {}
    for c, client in enumerate(data["clients"]):
        here: PathKey = ("clients", c)
        if client["slug"] in seen_clients:
            errors.append(
                (
                    here + ("slug",),
                    f"Duplicate client slug (also clients[{seen_clients[client['slug']]}]).",
                )
            )
        seen_clients.setdefault(client["slug"], c)
        slugs: dict[str, int] = {}
        for p, pipeline in enumerate(client["pipelines"]):
            if pipeline["slug"] in slugs:
                errors.append(
                    (here + ("pipelines", p, "slug"), "Duplicate pipeline slug in this client.")
                )
            slugs.setdefault(pipeline["slug"], p)
        known = slugs.keys() | set(
            Pipeline.objects.filter(client__slug=client["slug"]).values_list("slug", flat=True)
        )
        for key, section in _CLIENT_SECTIONS.items():
            errors.extend(
                (here + (key, *where), message)
                for where, message in section.check(client["slug"], client[key], known)
            )
    return errors


def _parse(text: str, *, name: str) -> tuple[Any, dict[PathKey, int]]:
    """Parse JSON or YAML; JSON is tried first since its errors are the more precise."""
    stripped = text.lstrip()
    if stripped.startswith(("{", "[")):
        try:
            document = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InventoryError(
                [(f"{name}: line {exc.lineno}", f"Invalid JSON: {exc.msg}.")]
            ) from exc
    else:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f"{name}: line {mark.line + 1}" if mark else name
            problem = getattr(exc, "problem", None) or str(exc)
            raise InventoryError([(where, f"Invalid YAML: {problem}.")]) from exc
    return document, _line_numbers(text)


def _line_numbers(text: str) -> dict[PathKey, int]:
    """Map each path in the document to the line it starts on (JSON is YAML enough for this)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[PathKey, int] = {}

    def walk(node: yaml.Node, path: PathKey) -> None:
        lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = path + (key_node.value,)
                walk(value_node, key)
                lines[key] = key_node.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                walk(item, path + (index,))

    if root is not None:
        walk(root, ())
    return lines


def _flatten(errors: Any, path: PathKey = ()) -> list[tuple[PathKey, str]]:
    if isinstance(errors, Mapping):
        flat = []
        for key, value in errors.items():
            sub = path if key == "non_field_errors" else path + (key,)
            flat.extend(_flatten(value, sub))
        return flat
    if isinstance(errors, list):
        if all(isinstance(item, str) for item in errors):
            return [(path, str(item)) for item in errors]
        flat = []
        for index, item in enumerate(errors):
            if item:
                flat.extend(_flatten(item, path + (index,)))
        return flat
    return [(path, str(errors))]


def _locate(path: PathKey, lines: Mapping[PathKey, int]) -> str:
    dotted = ""
    for part in path:
        dotted += f"[{part}]" if isinstance(part, int) else (f".{part}" if dotted else part)
    dotted = dotted or "<document>"
    # The nearest enclosing node that has a line (a missing field has none of its own).
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return f"line {lines[path[:end]]}: {dotted}"
    return dotted
