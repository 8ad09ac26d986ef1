from __future__ import annotations

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts"

    def ready(self) -> None:
        from alerts.loading import ALERT_RULES
        from alerts.on_ingest import evaluate_after_ingest
        from inventory.loading import add_client_section
        from runs.signals import terminal_runs_ingested

        terminal_runs_ingested.connect(evaluate_after_ingest, dispatch_uid="alerts.on_ingest")
        # Inventory files state each client's alert rules beside its pipelines.
        add_client_section(ALERT_RULES)
