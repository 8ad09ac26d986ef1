from __future__ import annotations

from django.urls import path

from web import views

# The namespace the pages about clients, pipelines and runs were first named under
# ("runs:pipeline-detail"); templates, tests and bookmarks' names use it.
app_name = "runs"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("clients/<slug:slug>/", views.client_detail, name="client-detail"),
    path("pipelines/<int:pk>/", views.pipeline_detail, name="pipeline-detail"),
    path("runs/", views.run_list, name="run-list"),
    path("flaky/", views.flaky, name="flaky"),
    path("changes/", views.changes, name="changes"),
    path("freshness/", views.freshness, name="freshness"),
    path("governance/", views.governance, name="governance"),
    path("incidents/<str:key>/", views.incident_detail, name="incident-detail"),
    path("errors/", views.errors, name="errors"),
    path("csv/<slug:table>.csv", views.table_csv, name="table-csv"),
]
