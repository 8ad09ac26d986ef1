"""factory-boy factories, one per model. Times are aware UTC datetimes."""

from __future__ import annotations

import datetime as dt

import factory
from django.utils import timezone

from alerts.models import AlertRule, AlertState, Channel, RuleKind
from inventory.keys import generate_key
from inventory.models import Client, Pipeline, Platform
from runs import pipeline_state
from runs.derived_state import runs_rewritten
from runs.models import Run, RunStatus
from runs.signatures import failure_signature as signature_of_message


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"client-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    is_active = True

    @factory.post_generation
    def raw_key(obj, create, extracted, **kwargs):
        """``ClientFactory(raw_key="chm_…")`` sets that key; otherwise a random one.

        The raw key is kept on the instance (``client.raw_key``) for tests that send requests.
        """
        if extracted:
            from inventory.keys import hash_key

            obj.key_prefix, obj.key_hash, raw = extracted[:12], hash_key(extracted), extracted
        else:
            new = generate_key()
            obj.key_prefix, obj.key_hash, raw = new.prefix, new.hashed, new.raw
        if create:
            obj.save(update_fields=["key_prefix", "key_hash"])
        obj.raw_key = raw


class PipelineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Pipeline

    client = factory.SubFactory(ClientFactory)
    slug = factory.Sequence(lambda n: f"pipeline-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())
    platform = Platform.AIRFLOW
    owner = "data-platform"
    is_active = True


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Run

    pipeline = factory.SubFactory(PipelineFactory)
    external_run_id = factory.Sequence(lambda n: f"run-{n}")
    status = RunStatus.SUCCESS
    started_at = factory.LazyFunction(lambda: timezone.now() - dt.timedelta(hours=1))
    finished_at = factory.LazyAttribute(
        lambda o: (
            None
            if o.status in (RunStatus.QUEUED, RunStatus.RUNNING)
            else o.started_at + dt.timedelta(minutes=5)
        )
    )
    error_message = factory.LazyAttribute(
        lambda o: "Task exited with return code 1" if o.status == RunStatus.FAILED else ""
    )
    # As every writer of runs stores it (runs/ingest.py).
    failure_signature = factory.LazyAttribute(
        lambda o: (
            getattr(signature_of_message(o.error_message), "digest", None)
            if o.status == RunStatus.FAILED
            else None
        )
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        # Written as any writer of runs outside ingestion does: with the pipeline's state and
        # the rollup kept up to date in the same transaction.
        run = super()._create(model_class, *args, **kwargs)
        pipeline_state.ensure_rows([run.pipeline_id])
        runs_rewritten(
            pipeline_ids=[run.pipeline_id], days=[run.started_at.astimezone(dt.UTC).date()]
        )
        return run


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertRule

    client = factory.SubFactory(ClientFactory)
    pipeline = None
    name = factory.Sequence(lambda n: f"rule {n}")
    kind = RuleKind.CONSECUTIVE_FAILURES
    threshold = 3
    channel = Channel.EMAIL
    target = "oncall@example.com"
    is_enabled = True


class AlertStateFactory(factory.django.DjangoModelFactory):
    """An open alert of ``rule`` for ``pipeline`` (the rule's own pipeline by default)."""

    class Meta:
        model = AlertState

    rule = factory.SubFactory(AlertRuleFactory)
    pipeline = factory.LazyAttribute(lambda o: o.rule.pipeline)
    subject_key = factory.LazyAttribute(lambda o: f"pipeline:{o.pipeline.pk}")
    subject_label = factory.LazyAttribute(lambda o: str(o.pipeline))
    summary = "the condition holds"
    fired_at = factory.LazyFunction(timezone.now)
    last_notified_at = factory.LazyAttribute(lambda o: o.fired_at)
