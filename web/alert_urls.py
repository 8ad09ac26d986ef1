from __future__ import annotations

from django.urls import path

from web import alert_views

app_name = "alerts"

urlpatterns = [
    path("", alert_views.firing, name="firing"),
    path("<int:pk>/acknowledge/", alert_views.acknowledge, name="acknowledge"),
    path("silences/", alert_views.silences, name="silences"),
    path("silences/<int:pk>/end/", alert_views.end_silence, name="end-silence"),
    path("maintenance/", alert_views.maintenance, name="maintenance"),
    path("maintenance/<int:pk>/end/", alert_views.end_maintenance, name="end-maintenance"),
    path("rules/<int:pk>/history/", alert_views.rule_history, name="rule-history"),
    path("pipelines/<int:pk>/history/", alert_views.pipeline_history, name="pipeline-history"),
]
