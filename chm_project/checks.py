"""CHM's own system checks: the production settings that ``manage.py check --deploy`` reports
when they are not met, beside Django's own (docs/operations.md, "Production settings")."""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.core import checks

# Cloud metadata services: a webhook allow-list that admits these admits credential theft.
_METADATA_ADDRESSES = [
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
]


@checks.register(checks.Tags.security, deploy=True)
def check_production_settings(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    found: list[checks.CheckMessage] = []
    if not settings.METRICS_TOKEN:
        found.append(
            checks.Warning(
                "METRICS_TOKEN is not set: with DEBUG off, /metrics refuses every scrape.",
                hint="Set METRICS_TOKEN and give the same token to Prometheus.",
                id="chm.W001",
            )
        )
    if settings.RATE_LIMIT_STORE == "cache" and settings.CACHES["ratelimit"]["BACKEND"].endswith(
        "LocMemCache"
    ):
        found.append(
            checks.Warning(
                "Rate limits are counted per process: every gunicorn worker and machine keeps "
                "its own counts, so each limit is multiplied by their number.",
                hint="Unset RATE_LIMIT_CACHE_URL (counts in the database) or set a redis:// URL.",
                id="chm.W002",
            )
        )
    if not settings.CHM_WEBHOOK_SECRET:
        found.append(
            checks.Warning(
                "CHM_WEBHOOK_SECRET is not set: webhook receivers cannot verify that a "
                "notification comes from CHM.",
                hint="Set CHM_WEBHOOK_SECRET and give it to the receivers (docs/alerts.md).",
                id="chm.W003",
            )
        )
    if "csp.middleware.CSPMiddleware" not in settings.MIDDLEWARE or _csp_allows_inline_scripts():
        found.append(
            checks.Warning(
                "The Content-Security-Policy is missing or allows inline scripts.",
                hint="Keep csp.middleware.CSPMiddleware and CONTENT_SECURITY_POLICY as "
                "chm_project/settings.py sets them.",
                id="chm.W004",
            )
        )
    for entry in settings.CHM_WEBHOOK_ALLOWED_NETWORKS:
        network = ipaddress.ip_network(entry, strict=False)
        if any(address in network for address in _METADATA_ADDRESSES):
            found.append(
                checks.Warning(
                    f"CHM_WEBHOOK_ALLOWED_NETWORKS admits {network}, which holds a cloud "
                    "metadata address: a webhook target could read the server's credentials.",
                    hint="List only the networks of the internal receivers.",
                    id="chm.W005",
                )
            )
    return found


def _csp_allows_inline_scripts() -> bool:
    directives = getattr(settings, "CONTENT_SECURITY_POLICY", {}).get("DIRECTIVES", {})
    scripts = directives.get("script-src", directives.get("default-src", ()))
    return not scripts or "'unsafe-inline'" in scripts or "*" in scripts
