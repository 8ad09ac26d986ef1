from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

from runs.models import Run

COUNT_CAP = 10_000


class CappedCountPaginator(Paginator):
    """Counts at most COUNT_CAP + 1 rows, so a changelist never scans the whole runs table.

    Past the cap the admin shows "10001" results and pages up to there; filters narrow further.
    """

    @cached_property
    def count(self) -> int:
        query = self.object_list.order_by().values("pk")[: COUNT_CAP + 1].query
        sql, params = query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({sql}) AS capped", params)  # noqa: S608
            return cursor.fetchone()[0]


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "external_run_id",
        "pipeline",
        "status",
        "started_at",
        "finished_at",
        "duration",
    ]
    list_filter = ["status", "pipeline__platform", "pipeline__client"]
    list_select_related = ["pipeline__client"]
    search_fields = ["=external_run_id"]
    ordering = ["-started_at", "-id"]
    paginator = CappedCountPaginator
    show_full_result_count = False
    raw_id_fields = ["pipeline"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
