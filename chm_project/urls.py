from django.contrib import admin
from django.urls import path

from chm_project.metrics import metrics_view

admin.site.site_header = "CHM administration"
admin.site.site_title = "CHM"
admin.site.index_title = "Clients, pipelines, runs and alert rules"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", metrics_view, name="metrics"),
]
