"""The HTTP API: run ingestion (REST and OpenLineage) and the read lists.

Views parse input, call one use case (runs/ingest.py, runs/openlineage.py, the selectors) and
render; authentication and scoping are in api/authentication.py.
"""

from __future__ import annotations

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema, extend_schema_view
from rest_framework import fields as rest_fields
from rest_framework import mixins, status, viewsets
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

import api.schema  # noqa: F401  (registers the client-key security scheme)
from alerts.serializers import AlertRuleSerializer
from api import filters, selectors, serializers
from api.authentication import (
    ClientKeyAuthentication,
    HasClientKey,
    IsStaffOrClientKey,
    request_client,
)
from api.bodies import BodyError, read_json_body
from api.renderers import READ_RENDERERS
from inventory.models import Client
from runs import limits
from runs.ingest import CREATED, REJECTED, IngestResult, ItemResult, ingest_runs
from runs.models import Run
from runs.openlineage import ingest_lineage_event

_JSON = JSONRenderer()


class ByIdPagination(CursorPagination):
    ordering = ("id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class NewestRunsFirstPagination(CursorPagination):
    # Keyset pagination on the (started_at DESC, id DESC) index: a page deep into millions of
    # runs costs the same as the first one, and nothing is counted.
    ordering = ("-started_at", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class ScopedListViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsStaffOrClientKey]
    renderer_classes = READ_RENDERERS
    pagination_class = ByIdPagination


class ClientViewSet(ScopedListViewSet):
    staff_permission = "inventory.view_client"
    serializer_class = serializers.ClientSerializer
    filterset_class = filters.ClientFilter

    def get_queryset(self):
        return selectors.visible_clients(request_client(self.request))


class PipelineViewSet(ScopedListViewSet):
    staff_permission = "inventory.view_pipeline"
    serializer_class = serializers.PipelineSerializer
    filterset_class = filters.PipelineFilter

    def get_queryset(self):
        return selectors.visible_pipelines(request_client(self.request))


class AlertRuleViewSet(ScopedListViewSet):
    staff_permission = "alerts.view_alertrule"
    serializer_class = AlertRuleSerializer
    filterset_class = filters.AlertRuleFilter

    def get_queryset(self):
        return selectors.visible_alert_rules(request_client(self.request))


def _item_result_data(item: ItemResult) -> dict:
    return {
        "index": item.index,
        "outcome": item.outcome,
        "run_id": item.run_id,
        "errors": item.errors,
    }


def _batch_data(result: IngestResult) -> dict:
    return {
        "results": [_item_result_data(item) for item in result.results],
        "summary": result.summary,
    }


def _rejection_status(*, conflict: bool, unknown_pipeline: bool) -> int:
    if conflict:
        return status.HTTP_409_CONFLICT
    # The same answer for another client's pipeline and a pipeline that does not exist.
    if unknown_pipeline:
        return status.HTTP_404_NOT_FOUND
    return status.HTTP_400_BAD_REQUEST


_timestamp = rest_fields.DateTimeField()


def _stored_run_data(stored: Run, client: Client, pipeline_slug: str) -> dict:
    """The stored run in RunSerializer's shape, from what ingestion already holds: the answer
    to a single-run POST needs no query for the run's pipeline and client (a test keeps the
    two shapes equal)."""
    duration = stored.finished_at - stored.started_at if stored.finished_at else None
    return {
        "id": stored.pk,
        "client": client.slug,
        "pipeline": pipeline_slug,
        "pipeline_id": stored.pipeline_id,
        "external_run_id": stored.external_run_id,
        "status": stored.status,
        "started_at": _timestamp.to_representation(stored.started_at),
        "finished_at": _timestamp.to_representation(stored.finished_at)
        if stored.finished_at
        else None,
        "duration_seconds": duration.total_seconds() if duration is not None else None,
        "error_message": stored.error_message,
        "metadata": stored.metadata,
        "created_at": _timestamp.to_representation(stored.created_at),
        "updated_at": _timestamp.to_representation(stored.updated_at),
    }


class IngestionAnswersJson:
    """Ingestion answers JSON whatever ``Accept`` or ``?format=`` ask for: a scheduler's
    headers are rarely written with CHM in mind, and an error it cannot read helps nobody."""

    def perform_content_negotiation(self, request, force=False):
        if request.method == "POST":
            return _JSON, _JSON.media_type
        return super().perform_content_negotiation(request, force)


class RunViewSet(IngestionAnswersJson, ScopedListViewSet):
    """GET lists runs (staff or a client key); POST ingests one run or a batch (client key)."""

    serializer_class = serializers.RunSerializer
    filterset_class = filters.RunFilter
    pagination_class = NewestRunsFirstPagination

    def get_queryset(self):
        return selectors.visible_runs(request_client(self.request))

    def get_permissions(self):
        if self.action == "create":
            return [HasClientKey()]
        return super().get_permissions()

    @extend_schema(
        summary="Ingest one run or a batch of runs",
        auth=[{"clientKey": []}],
        description=(
            "Send one run (an object) or a list of at most 1,000. Idempotent on "
            "(pipeline, external_run_id); see docs/api.md for outcomes and status spellings."
        ),
        request=PolymorphicProxySerializer(
            component_name="RunIngest",
            serializers=[serializers.RunItemSerializer, serializers.RunItemSerializer(many=True)],
            resource_type_field_name=None,
            many=False,
        ),
        responses={
            201: serializers.IngestedRunSerializer,
            200: PolymorphicProxySerializer(
                component_name="RunIngestResult",
                serializers=[serializers.IngestedRunSerializer, serializers.BatchResultSerializer],
                resource_type_field_name=None,
            ),
            400: serializers.ErrorSerializer,
            401: serializers.ErrorSerializer,
            404: serializers.RejectedRunSerializer,
            409: serializers.RejectedRunSerializer,
            413: serializers.ErrorSerializer,
        },
    )
    def create(self, request: Request) -> Response:
        client = request_client(request)
        payload = read_json_body(request)
        if isinstance(payload, list):
            limit = limits.max_batch_items()
            if len(payload) > limit:
                raise BodyError(
                    f"A batch holds at most {limit} runs; this one has {len(payload)}. Split it."
                )
            return Response(_batch_data(ingest_runs(client=client, items=payload)))
        if not isinstance(payload, dict):
            raise BodyError("Send one run (a JSON object) or a list of runs.")

        item = ingest_runs(client=client, items=[payload]).results[0]
        if item.outcome == REJECTED:
            return Response(
                {
                    "outcome": REJECTED,
                    "detail": "Run rejected: " + ", ".join(sorted(item.errors)) + ".",
                    "errors": item.errors,
                },
                status=_rejection_status(
                    conflict=item.conflict, unknown_pipeline=item.unknown_pipeline
                ),
            )
        return Response(
            {
                "outcome": item.outcome,
                "run": _stored_run_data(item.run, client, payload["pipeline"].strip()),
            },
            status=status.HTTP_201_CREATED if item.outcome == CREATED else status.HTTP_200_OK,
        )


@extend_schema_view(list=extend_schema(exclude=True), create=extend_schema(exclude=True))
class RunViewSetWithoutSlash(RunViewSet):
    """The same endpoint at ``/api/v1/runs``: senders often drop the trailing slash, and a
    redirect would turn their POST into a GET."""


class LineageView(IngestionAnswersJson, APIView):
    authentication_classes = [ClientKeyAuthentication]
    permission_classes = [HasClientKey]

    @extend_schema(
        summary="Ingest an OpenLineage RunEvent",
        description="The Marquez-compatible endpoint for OpenLineage clients; gzip bodies "
        "are accepted. docs/api.md explains the job-to-pipeline mapping.",
        request=serializers.LineageEventSerializer,
        responses={
            201: serializers.LineageResultSerializer,
            200: serializers.LineageResultSerializer,
            400: serializers.ErrorSerializer,
            401: serializers.ErrorSerializer,
            404: serializers.ErrorSerializer,
            409: serializers.ErrorSerializer,
            413: serializers.ErrorSerializer,
        },
    )
    def post(self, request: Request) -> Response:
        result = ingest_lineage_event(client=request_client(request), event=read_json_body(request))
        data = {"outcome": result.outcome, "run_id": result.run_id, "pipeline": result.pipeline}
        if result.detail:
            data["detail"] = result.detail
        if result.outcome == REJECTED:
            data["errors"] = result.errors
            code = _rejection_status(
                conflict=result.conflict, unknown_pipeline=result.unknown_pipeline
            )
        else:
            code = status.HTTP_201_CREATED if result.outcome == CREATED else status.HTTP_200_OK
        return Response(data, status=code)


@extend_schema_view(post=extend_schema(exclude=True))
class LineageViewWithSlash(LineageView):
    pass
