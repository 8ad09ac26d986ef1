"""What staff need to see CHM's monitoring data: the permission to view runs, which every staff
role holds (chm_project/roles.py). The pages, the dashboards and the staff side of the API ask
for it."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required

VIEW_RUNS = "runs.view_run"


def staff_page(view: Callable) -> Callable:
    """Pages: staff only (others go to the login), and only with a role (403 otherwise)."""
    return staff_member_required(permission_required(VIEW_RUNS, raise_exception=True)(view))
