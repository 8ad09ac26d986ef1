from django.urls import path

from dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:key>/", views.dashboard_page, name="dashboard"),
    path("<slug:key>/<slug:panel>.csv", views.panel_csv, name="panel-csv"),
]
