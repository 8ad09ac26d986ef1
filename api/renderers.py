"""CSV for the read API: ``GET /api/v1/runs/?format=csv`` (or ``Accept: text/csv``).

One page of a list as CSV rows, the columns being the serializer's fields, each cell written
by the same rule as the pages' downloads (common.csv_export). The next page's address, which
JSON carries in ``next``, travels in a ``Link: <…>; rel="next"`` header, so a script reads
every page the same way as in JSON. A page holds at most 1,000 rows, so it is rendered whole;
the pages' own downloads stream every row.
"""

from __future__ import annotations

from rest_framework.renderers import BaseRenderer, JSONRenderer

from common.csv_export import csv_text


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        context = renderer_context or {}
        if isinstance(data, dict) and "results" in data:
            next_url = data.get("next")
            if next_url and context.get("response") is not None:
                context["response"]["Link"] = f'<{next_url}>; rel="next"'
            rows = list(data["results"])
            header = list(rows[0]) if rows else self._serializer_fields(context.get("view"))
        else:
            # An error ({"detail": …} or field errors) or a single object: one row.
            rows = [data] if isinstance(data, dict) else []
            header = list(data) if isinstance(data, dict) else []
        return csv_text(header, ([row.get(name) for name in header] for row in rows)).encode()

    @staticmethod
    def _serializer_fields(view) -> list[str]:
        get_serializer = getattr(view, "get_serializer", None)
        return list(get_serializer().fields) if get_serializer else []


# The read endpoints' renderers: JSON first (the default), CSV when asked for.
READ_RENDERERS = [JSONRenderer, CSVRenderer]
