"""Where batches go: straight into the database through the ingestion service, or to the HTTP
API of a running CHM. Both answer the batch's outcome summary.

Direct ingestion needs Django set up (``synthetic.cli.setup_django``); HTTP needs only the URL
and one key per client.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import requests

HTTP_TIMEOUT_SECONDS = 120


class KeyMissing(Exception):
    """No ingestion key was given for a client the batches write to."""


class SendFailed(Exception):
    """The API could not be reached or refused a batch; the state keeps what was done."""


def database_target() -> str:
    """A name for the configured database (no password): the state's key for its ingestion."""
    from django.db import connection

    settings = connection.settings_dict
    host = settings.get("HOST") or "local socket"
    port = settings.get("PORT") or 5432
    return f"postgresql://{settings.get('USER') or ''}@{host}:{port}/{settings['NAME']}"


def load_base_inventory(document: Mapping[str, Any]) -> Any:
    from inventory.loading import load_inventory

    return load_inventory(document=document)


def set_already_loaded(client_slugs: list[str]) -> bool:
    """True when the set's clients already have runs here (loaded before, state file elsewhere)."""
    from runs.models import Run

    return Run.objects.filter(pipeline__client__slug__in=client_slugs).exists()


def send_direct(client_slug: str, items: list[dict[str, Any]]) -> dict[str, int]:
    from inventory.models import Client
    from runs.ingest import ingest_runs

    client = Client.objects.get(slug=client_slug)
    return dict(ingest_runs(client=client, items=items).summary)


def refresh_rollup() -> str:
    """Roll up the closed days the batches wrote to and compute the what-changed windows, as
    the periodic refresh would."""
    from runs.change_windows import refresh_change_windows
    from runs.rollups import refresh_daily_rollup

    return f"{refresh_daily_rollup()}; {refresh_change_windows()}"


class HttpSender:
    """POSTs each batch to ``{url}/api/v1/runs/`` with the key of the batch's client."""

    def __init__(self, url: str, keys: Mapping[str, str]):
        self.endpoint = url.rstrip("/") + "/api/v1/runs/"
        self.keys = dict(keys)
        self.session = requests.Session()

    def __call__(self, client_slug: str, items: list[dict[str, Any]]) -> dict[str, int]:
        key = self.keys.get(client_slug)
        if not key:
            raise KeyMissing(
                f"No key for client {client_slug!r}: pass --key {client_slug}=KEY or --keys-file."
            )
        try:
            response = self.session.post(
                self.endpoint,
                json=items,
                headers={"Authorization": f"Bearer {key}"},
                timeout=HTTP_TIMEOUT_SECONDS,
            )
        except requests.RequestException as exc:
            raise SendFailed(f"{self.endpoint}: {exc}") from exc
        if response.status_code != 200:
            raise SendFailed(
                f"{self.endpoint} answered {response.status_code} for a batch of {client_slug}: "
                f"{response.text[:500]}"
            )
        return dict(response.json()["summary"])


def parse_keys(pairs: list[str], keys_file: Path | None) -> dict[str, str]:
    """Keys from ``CLIENT=KEY`` pairs and/or a file of such lines (``#`` comments allowed)."""
    lines = list(pairs)
    if keys_file is not None:
        lines += keys_file.read_text(encoding="utf-8").splitlines()
    keys = {}
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        slug, sep, key = line.partition("=")
        if not sep or not slug.strip() or not key.strip():
            raise ValueError(f"Expected CLIENT=KEY, got {line[:40]!r}.")
        keys[slug.strip()] = key.strip()
    return keys
