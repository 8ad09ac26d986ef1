from django.contrib import admin
from django.urls import include, path

from chm_project.metrics import metrics_view
from runs.api.views import healthz

admin.site.site_header = "CHM administration"
admin.site.site_title = "CHM"
admin.site.index_title = "Clients, pipelines, runs and alert rules"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("dashboards/", include("dashboards.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("api/", include("runs.api.urls")),
    path("healthz", healthz, name="healthz"),
    # Staff pages: overview, clients, pipelines, runs, flaky, changes, freshness, governance.
    path("", include("runs.urls")),
]
