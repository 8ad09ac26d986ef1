"""Metabase static (signed) embedding: the token CHM signs and the iframe URL that carries it.

Metabase trusts whatever the token says, so everything that limits what a viewer sees lives
in the signed payload: which dashboard, and the `client` parameter, which the dashboards are
published with as *locked* (no widget, the value comes only from the token). A viewer who edits
the URL breaks the signature; one who keeps a URL loses access when `exp` passes.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import jwt
from django.conf import settings

from dashboards.catalog import DASHBOARDS_BY_KEY

logger = logging.getLogger(__name__)
CLIENT_PARAMETER = "client"


@dataclass(frozen=True)
class EmbeddableDashboard:
    key: str  # a dashboards.catalog.Dashboard key
    setting: str


# The two dashboards `manage.py setup_metabase` creates, and the settings holding their ids.
EMBEDDABLE_DASHBOARDS = (
    EmbeddableDashboard("business", "METABASE_DASHBOARD_BUSINESS"),
    EmbeddableDashboard("operations", "METABASE_DASHBOARD_OPERATIONS"),
)


@dataclass(frozen=True)
class EmbeddedDashboard:
    title: str
    dashboard_id: int
    iframe_url: str


@dataclass(frozen=True)
class EmbeddingConfig:
    site_url: str
    secret_key: str
    ttl_seconds: int
    dashboard_ids: dict[str, int]


def sign_dashboard_token(
    *,
    dashboard_id: int,
    client_slug: str | None,
    secret_key: str,
    ttl_seconds: int,
    now: float | None = None,
) -> str:
    """A token for one dashboard with the `client` parameter locked.

    ``client_slug=None`` locks it to an empty list, which Metabase documents as "this filter is
    off" (every client): only staff reach the page, and they may see every client.
    """
    issued_at = int(time.time() if now is None else now)
    payload = {
        "resource": {"dashboard": dashboard_id},
        "params": {CLIENT_PARAMETER: client_slug if client_slug else []},
        "exp": issued_at + ttl_seconds,
    }
    # Metabase signs with its secret's text itself (64 hexadecimal characters), so CHM does too.
    return jwt.encode(payload, secret_key, algorithm="HS256")


def dashboard_iframe_url(*, site_url: str, token: str) -> str:
    # Display options go in the fragment, which the browser never sends to Metabase's server.
    return f"{site_url.rstrip('/')}/embed/dashboard/{token}#bordered=true&titled=true"


def write_ids_file(path: Path, ids: dict[str, int]) -> None:
    """Write the dashboard ids for CHM to read (``METABASE_DASHBOARD_IDS_FILE``), whole or not
    at all: a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as tmp:
        json.dump(ids, tmp, sort_keys=True)
    os.replace(tmp.name, path)


def read_ids_file(path: Path) -> dict[str, int]:
    """The ids ``setup_metabase --ids-file`` wrote; none while it has not run yet."""
    try:
        ids = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("Cannot read the Metabase dashboard ids from %s: %s", path, exc)
        return {}
    wanted = {dashboard.key for dashboard in EMBEDDABLE_DASHBOARDS}
    if not isinstance(ids, dict):
        return {}
    return {
        key: value
        for key, value in ids.items()
        if key in wanted and isinstance(value, int) and not isinstance(value, bool)
    }


def dashboard_ids() -> dict[str, int]:
    """The Metabase id of each dashboard: its setting when set, else the ids file's."""
    from_settings = {
        d.key: getattr(settings, d.setting)
        for d in EMBEDDABLE_DASHBOARDS
        if getattr(settings, d.setting)
    }
    if len(from_settings) == len(EMBEDDABLE_DASHBOARDS) or not settings.METABASE_DASHBOARD_IDS_FILE:
        return from_settings
    return read_ids_file(Path(settings.METABASE_DASHBOARD_IDS_FILE)) | from_settings


def embedding_config() -> EmbeddingConfig | None:
    """The configuration from settings, or None while anything needed is missing."""
    if missing_embedding_settings():
        return None
    return EmbeddingConfig(
        site_url=settings.METABASE_SITE_URL,
        secret_key=settings.METABASE_SECRET_KEY,
        ttl_seconds=settings.METABASE_EMBED_TTL_SECONDS,
        dashboard_ids=dashboard_ids(),
    )


def missing_embedding_settings() -> list[str]:
    missing = [
        name for name in ("METABASE_SITE_URL", "METABASE_SECRET_KEY") if not getattr(settings, name)
    ]
    ids = dashboard_ids()
    return missing + [d.setting for d in EMBEDDABLE_DASHBOARDS if d.key not in ids]


def embedded_dashboard(
    config: EmbeddingConfig, key: str, *, client_slug: str | None, now: float | None = None
) -> EmbeddedDashboard:
    """A fresh token for one dashboard; signed per page view, never cached."""
    dashboard_id = config.dashboard_ids[key]
    token = sign_dashboard_token(
        dashboard_id=dashboard_id,
        client_slug=client_slug,
        secret_key=config.secret_key,
        ttl_seconds=config.ttl_seconds,
        now=now,
    )
    return EmbeddedDashboard(
        title=DASHBOARDS_BY_KEY[key].title,
        dashboard_id=dashboard_id,
        iframe_url=dashboard_iframe_url(site_url=config.site_url, token=token),
    )
