from __future__ import annotations

from csp import constants as csp_constants
from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from api import views
from api.authentication import IsStaffOrClientKey

app_name = "api"

_runs = {"get": "list", "post": "create"}

urlpatterns = [
    path("v1/runs/", views.RunViewSet.as_view(_runs), name="runs"),
    path("v1/runs", views.RunViewSetWithoutSlash.as_view(_runs), name="runs-without-slash"),
    path("v1/lineage", views.LineageView.as_view(), name="lineage"),
    path("v1/lineage/", views.LineageViewWithSlash.as_view(), name="lineage-with-slash"),
    path("v1/clients/", views.ClientViewSet.as_view({"get": "list"}), name="clients"),
    path("v1/pipelines/", views.PipelineViewSet.as_view({"get": "list"}), name="pipelines"),
    path("v1/alert-rules/", views.AlertRuleViewSet.as_view({"get": "list"}), name="alert-rules"),
    # For staff and key holders only: the schema maps every endpoint and parameter.
    path(
        "schema/",
        SpectacularAPIView.as_view(permission_classes=[IsStaffOrClientKey]),
        name="schema",
    ),
    # The split view serves Swagger UI's start-up script as a file of its own, so the
    # Content-Security-Policy needs no inline script. Swagger UI does add a <style> element
    # of its own: inline styles are allowed on this page, and on no other.
    path(
        "docs/",
        csp_update({"style-src": [csp_constants.SELF, csp_constants.UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(
                url_name="api:schema", permission_classes=[IsStaffOrClientKey]
            )
        ),
        name="docs",
    ),
]
