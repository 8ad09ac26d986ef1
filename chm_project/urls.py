from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "CHM administration"
admin.site.site_title = "CHM"
admin.site.index_title = "Clients, pipelines, runs and alert rules"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("dashboards/", include("dashboards.urls")),
]
