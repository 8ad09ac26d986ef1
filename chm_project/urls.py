from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults

from api import throttling
from chm_project.health import healthz
from chm_project.metrics import metrics_view

admin.site.site_header = "CHM administration"
admin.site.site_title = "CHM"
admin.site.index_title = "Clients, pipelines, runs and alert rules"


def admin_login(request: HttpRequest, **kwargs) -> HttpResponse:
    """The admin's login, counting failed attempts per address with the API's wrong keys
    (api/throttling.py): past AUTH_FAILURE_RATE_LIMIT the address gets 429 until the window
    ends, and no password is checked meanwhile."""
    if request.method == "POST":
        wait = throttling.authentication_blocked(request)
        if wait is not None:
            response = HttpResponse(
                "Too many failed sign-ins from your address: try again later.\n",
                status=429,
                content_type="text/plain",
            )
            response["Retry-After"] = str(max(1, round(wait)))
            return response
    response = admin.site.login(request, **kwargs)
    # A failed login shows the form again; a successful one redirects.
    if request.method == "POST" and response.status_code == 200:
        throttling.count_failed_authentication(request)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """A 500 says nothing of its cause (that is in the log); API clients get it as JSON."""
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "Server error. It has been logged."}, status=500)
    return defaults.server_error(request)


handler500 = server_error

urlpatterns = [
    # Before the admin's own URLs, so that it answers the admin's login address.
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("dashboards/", include("dashboards.urls")),
    path("metrics", metrics_view, name="metrics"),
    path("api/", include("api.urls")),
    path("healthz", healthz, name="healthz"),
    # Alert pages: firing alerts, acknowledge, silences, maintenance windows, history.
    path("alerts/", include("web.alert_urls")),
    # Staff pages: overview, clients, pipelines, runs, flaky, changes, freshness, governance.
    path("", include("web.urls")),
]
