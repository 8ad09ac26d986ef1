from __future__ import annotations

from django.urls import path

from runs import pages

app_name = "runs"

urlpatterns = [
    path("", pages.overview, name="overview"),
    path("clients/<slug:slug>/", pages.client_detail, name="client-detail"),
    path("pipelines/<int:pk>/", pages.pipeline_detail, name="pipeline-detail"),
    path("runs/", pages.run_list, name="run-list"),
    path("flaky/", pages.flaky, name="flaky"),
    path("changes/", pages.changes, name="changes"),
    path("freshness/", pages.freshness, name="freshness"),
    path("governance/", pages.governance, name="governance"),
    path("csv/<slug:table>.csv", pages.table_csv, name="table-csv"),
]
