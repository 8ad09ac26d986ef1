"""The alert pages (URL namespace ``alerts``): firing alerts, acknowledging one, silences,
maintenance windows, and the history of a rule or a pipeline.

Every staff role reads them; the actions are POST forms with CSRF for operators and admins
(chm_project/roles.py). Views parse the request, call one function of alerts/actions.py or
the selectors, and render.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from alerts import actions
from alerts import selectors as alert_selectors
from alerts.models import AlertRule
from inventory.models import Pipeline
from runs.permissions import staff_page
from web.alert_forms import AlertHistoryFilter, MaintenanceForm, SilenceForm

HISTORY_ROWS = 200
NOTIFICATION_ROWS = 50
DEFAULT_SILENCE = dt.timedelta(hours=24)

ACKNOWLEDGE = "alerts.acknowledge_alertstate"
ADD_SILENCE = "alerts.add_silence"
END_SILENCE = "alerts.change_silence"
ADD_MAINTENANCE = "alerts.add_maintenancewindow"
END_MAINTENANCE = "alerts.change_maintenancewindow"


def operator_action(permission: str) -> Callable[[Callable], Callable]:
    """A POST-only action for staff holding ``permission`` (403 otherwise, 405 for GET)."""

    def decorate(view: Callable) -> Callable:
        return staff_page(require_POST(permission_required(permission, raise_exception=True)(view)))

    return decorate


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    """To the page the form was on (``next``, when it is one of ours), or ``default``."""
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return HttpResponseRedirect(target)


def _refused(request: HttpRequest, error: str, *, status: int = 409) -> HttpResponse:
    return render(request, "runs/bad_request.html", {"errors": [error]}, status=status)


def _conflict(request: HttpRequest, exc: actions.ActionRefused) -> HttpResponse:
    """404 for what does not exist, 409 for what its state no longer allows."""
    return _refused(request, str(exc), status=404 if isinstance(exc, actions.NotFound) else 409)


def _create(
    request: HttpRequest,
    form: SilenceForm | MaintenanceForm,
    *,
    permission: str,
    forbidden: str,
    action: Callable[..., object],
    page: Callable[..., HttpResponse],
    done: str,
    back_to: str,
) -> HttpResponse:
    """A silence or a maintenance window from its posted form: the form's fields are the
    action's arguments. A refusal goes back to the form, on the field it names."""
    if not request.user.has_perm(permission):
        return _refused(request, forbidden, status=403)
    if not form.is_valid():
        return page(request, form, status=400)
    try:
        action(**form.cleaned_data, user=request.user, at=timezone.now())
    except actions.ActionRefused as exc:
        form.add_error(exc.field, str(exc))
        return page(request, form, status=400)
    messages.success(request, done)
    return _back(request, reverse(back_to))


@staff_page
def firing(request: HttpRequest) -> HttpResponse:
    alerts = alert_selectors.firing_alerts()
    return render(
        request,
        "alerts/firing.html",
        {
            "firing_alerts": alerts,
            "can_acknowledge": request.user.has_perm(ACKNOWLEDGE),
            "can_silence": request.user.has_perm(ADD_SILENCE),
        },
    )


@operator_action(ACKNOWLEDGE)
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        alert = actions.acknowledge(alert_id=pk, user=request.user, at=timezone.now())
    except actions.ActionRefused as exc:
        return _conflict(request, exc)
    messages.success(request, f"Acknowledged: {alert.rule.name} on {alert.subject_label}.")
    return _back(request, reverse("alerts:firing"))


def _silence_page(request: HttpRequest, form: SilenceForm, *, status: int = 200) -> HttpResponse:
    return render(
        request,
        "alerts/silences.html",
        {
            "form": form,
            "silences": list(alert_selectors.silences()),
            "can_silence": request.user.has_perm(ADD_SILENCE),
            "can_end": request.user.has_perm(END_SILENCE),
        },
        status=status,
    )


@staff_page
def silences(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _create(
            request,
            SilenceForm(request.POST),
            permission=ADD_SILENCE,
            forbidden="Only operators may silence alerts.",
            action=actions.silence,
            page=_silence_page,
            done="Silenced.",
            back_to="alerts:silences",
        )
    initial = {
        "until": (timezone.now() + DEFAULT_SILENCE).replace(second=0, microsecond=0),
        "rule": request.GET.get("rule", ""),
        "pipeline": request.GET.get("pipeline", ""),
    }
    return _silence_page(request, SilenceForm(initial=initial))


@operator_action(END_SILENCE)
def end_silence(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        actions.end_silence(silence_id=pk, user=request.user, at=timezone.now())
    except actions.ActionRefused as exc:
        return _conflict(request, exc)
    messages.success(request, "The silence ended.")
    return _back(request, reverse("alerts:silences"))


def _maintenance_page(
    request: HttpRequest, form: MaintenanceForm, *, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "alerts/maintenance.html",
        {
            "form": form,
            "windows": list(alert_selectors.maintenance_windows()),
            "can_schedule": request.user.has_perm(ADD_MAINTENANCE),
            "can_end": request.user.has_perm(END_MAINTENANCE),
        },
        status=status,
    )


@staff_page
def maintenance(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        return _create(
            request,
            MaintenanceForm(request.POST),
            permission=ADD_MAINTENANCE,
            forbidden="Only operators may schedule maintenance.",
            action=actions.schedule_maintenance,
            page=_maintenance_page,
            done="Maintenance window scheduled.",
            back_to="alerts:maintenance",
        )
    now = timezone.now().replace(second=0, microsecond=0)
    initial = {
        "starts_at": now,
        "ends_at": now + dt.timedelta(hours=2),
        "client": request.GET.get("client", ""),
        "pipeline": request.GET.get("pipeline", ""),
    }
    return _maintenance_page(request, MaintenanceForm(initial=initial))


@operator_action(END_MAINTENANCE)
def end_maintenance(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        actions.end_maintenance(window_id=pk, user=request.user, at=timezone.now())
    except actions.ActionRefused as exc:
        return _conflict(request, exc)
    messages.success(request, "The maintenance window ended.")
    return _back(request, reverse("alerts:maintenance"))


def _history_page(
    request: HttpRequest, *, rule: AlertRule | None, pipeline: Pipeline | None
) -> HttpResponse:
    filterset = AlertHistoryFilter(
        request.GET or None, queryset=alert_selectors.history(rule=rule, pipeline=pipeline)
    )
    context = {
        "rule": rule,
        "pipeline": pipeline,
        "filter": filterset,
        "csv_query": request.GET.urlencode(),
        "scope_query": f"rule={rule.pk}" if rule else f"pipeline={pipeline.pk}",
    }
    if filterset.errors:
        errors = [f"{name}: {' '.join(msgs)}" for name, msgs in filterset.errors.items()]
        return render(request, "alerts/history.html", {**context, "errors": errors}, status=400)
    events = list(filterset.qs[: HISTORY_ROWS + 1])
    return render(
        request,
        "alerts/history.html",
        {
            **context,
            "events": events[:HISTORY_ROWS],
            "more_events": len(events) > HISTORY_ROWS,
            "notifications": list(
                alert_selectors.notifications(rule=rule, pipeline=pipeline)[:NOTIFICATION_ROWS]
            ),
            "silences": list(alert_selectors.silences(rule=rule, pipeline=pipeline)),
            "windows": list(alert_selectors.maintenance_windows(pipeline=pipeline))
            if pipeline
            else [],
        },
    )


@staff_page
def rule_history(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(AlertRule.objects.select_related("client", "pipeline"), pk=pk)
    return _history_page(request, rule=rule, pipeline=None)


@staff_page
def pipeline_history(request: HttpRequest, pk: int) -> HttpResponse:
    pipeline = get_object_or_404(Pipeline.objects.select_related("client"), pk=pk)
    return _history_page(request, rule=None, pipeline=pipeline)
