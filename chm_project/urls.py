from django.contrib import admin
from django.urls import include, path

from runs.api.views import healthz

admin.site.site_header = "CHM administration"
admin.site.site_title = "CHM"
admin.site.index_title = "Clients, pipelines, runs and alert rules"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("dashboards/", include("dashboards.urls")),
    path("api/", include("runs.api.urls")),
    path("healthz", healthz, name="healthz"),
    # Staff pages: overview, clients, pipelines, runs, flaky, changes, freshness, governance.
    path("", include("runs.urls")),
]
