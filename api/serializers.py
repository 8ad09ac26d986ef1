"""API representations. Output serializers are read-only; the ingestion item is the serializer
that validates it (runs.serializers.RunItemSerializer), so the schema describes what is checked."""

from __future__ import annotations

from rest_framework import serializers

from inventory.models import Client, Pipeline
from runs.ingest import OUTCOMES
from runs.models import Run
from runs.serializers import RunItemSerializer  # noqa: F401  (the item, in the schema)


class ClientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Client
        fields = ["id", "slug", "name", "is_active", "auto_register_pipelines", "key_prefix"]
        read_only_fields = fields


class PipelineSerializer(serializers.ModelSerializer):
    client = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    # A URL or "" when there is none: the schema must not promise a URI format.
    docs_url = serializers.CharField(read_only=True, help_text="Documentation link, or empty.")

    class Meta:
        model = Pipeline
        fields = [
            "id",
            "client",
            "slug",
            "name",
            "platform",
            "owner",
            "description",
            "docs_url",
            "freshness_minutes",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    client = serializers.CharField(source="pipeline.client.slug", read_only=True)
    pipeline = serializers.CharField(source="pipeline.slug", read_only=True)
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = Run
        fields = [
            "id",
            "client",
            "pipeline",
            "pipeline_id",
            "external_run_id",
            "status",
            "started_at",
            "finished_at",
            "duration_seconds",
            "error_message",
            "metadata",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_duration_seconds(self, run: Run) -> float | None:
        return run.duration.total_seconds() if run.duration is not None else None


# --- Ingestion formats: the item is runs.serializers.RunItemSerializer, which validates it -----


class IngestedRunSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    run = RunSerializer()


class RejectedRunSerializer(serializers.Serializer):
    outcome = serializers.CharField(help_text='Always "rejected".')
    detail = serializers.CharField()
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class ItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    run_id = serializers.IntegerField(allow_null=True)
    errors = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))


class BatchResultSerializer(serializers.Serializer):
    results = ItemResultSerializer(many=True)
    summary = serializers.DictField(child=serializers.IntegerField())


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class LineageJobSerializer(serializers.Serializer):
    namespace = serializers.CharField()
    name = serializers.CharField()
    facets = serializers.DictField(required=False)


# Field names follow the OpenLineage spelling.
class LineageRunSerializer(serializers.Serializer):
    runId = serializers.CharField()
    facets = serializers.DictField(required=False)


class LineageEventSerializer(serializers.Serializer):
    eventType = serializers.ChoiceField(
        choices=["START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER"], required=False
    )
    eventTime = serializers.DateTimeField()
    producer = serializers.CharField()
    schemaURL = serializers.CharField(required=False)
    run = LineageRunSerializer()
    job = LineageJobSerializer()
    inputs = serializers.ListField(child=serializers.DictField(), required=False)
    outputs = serializers.ListField(child=serializers.DictField(), required=False)


class LineageResultSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(choices=OUTCOMES)
    run_id = serializers.IntegerField(allow_null=True)
    pipeline = serializers.CharField(allow_null=True)
    detail = serializers.CharField(required=False)
