from __future__ import annotations

from django.core.validators import MinValueValidator, RegexValidator
from django.db import connections, models, transaction
from django.db.models import Q
from django.utils import timezone

from inventory.keys import generate_key, hash_key

pipeline_slug_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9._:/-]*\Z",
    "Use letters, digits and . _ : / - (it may not start with punctuation).",
)


class ClientQuerySet(models.QuerySet):
    def active(self) -> ClientQuerySet:
        return self.filter(is_active=True)

    def for_key(self, raw_key: str) -> ClientQuerySet:
        return self.filter(key_hash=hash_key(raw_key))


class ClientManager(models.Manager.from_queryset(ClientQuerySet)):
    def active_for_key(self, raw_key: str) -> Client | None:
        """The active client whose ingestion key ``raw_key`` is, or None.

        Every ingest request starts here. The statement is written out and its row made into
        a Client directly: building ``active().for_key(…).first()``, or even a raw queryset
        (it resolves columns, converters and init order on every call), takes longer than
        PostgreSQL takes to answer (one probe of the unique index on key_hash).
        """
        fields = self.model._meta.concrete_fields
        with connections[self.db].cursor() as cursor:
            cursor.execute(
                "SELECT {} FROM inventory_client WHERE key_hash = %s AND is_active".format(  # noqa: S608
                    ", ".join(field.column for field in fields)
                ),
                [hash_key(raw_key)],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        return self.model.from_db(self.db, [field.attname for field in fields], row)


class Client(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    auto_register_pipelines = models.BooleanField(
        default=False,
        help_text="Register unknown OpenLineage jobs as new pipelines instead of refusing them.",
    )
    key_prefix = models.CharField(max_length=16, blank=True, editable=False)
    # NULL, not "": a client loaded from an inventory file has no key until one is rotated,
    # and several such clients must not collide on the unique index.
    key_hash = models.CharField(max_length=64, unique=True, null=True, editable=False)  # noqa: DJ001
    key_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ClientManager()

    class Meta:
        ordering = ["slug"]
        permissions = [
            ("rotate_client_key", "Can rotate a client's ingestion key (and see the new key)")
        ]

    def __str__(self) -> str:
        return self.name or self.slug

    def rotate_key(self) -> str:
        """Replace the ingestion key and answer the new raw key; only its hash is stored."""
        new = generate_key()
        self.key_prefix = new.prefix
        self.key_hash = new.hashed
        self.key_rotated_at = timezone.now()
        with transaction.atomic():
            self.save(update_fields=["key_prefix", "key_hash", "key_rotated_at", "updated_at"])
        return new.raw


class Platform(models.TextChoices):
    AIRFLOW = "airflow", "Airflow"
    DAGSTER = "dagster", "Dagster"
    PREFECT = "prefect", "Prefect"
    DBT = "dbt", "dbt"
    FIVETRAN = "fivetran", "Fivetran"
    AIRBYTE = "airbyte", "Airbyte"
    SPARK = "spark", "Spark"
    DATABRICKS = "databricks", "Databricks"
    GLUE = "glue", "AWS Glue"
    ADF = "adf", "Azure Data Factory"
    CUSTOM = "custom", "Custom"


class PipelineQuerySet(models.QuerySet):
    def active(self) -> PipelineQuerySet:
        return self.filter(is_active=True, client__is_active=True)

    def for_client(self, client: Client) -> PipelineQuerySet:
        return self.filter(client=client)


class Pipeline(models.Model):
    client = models.ForeignKey(Client, on_delete=models.CASCADE, related_name="pipelines")
    slug = models.CharField(max_length=200, validators=[pipeline_slug_validator])
    name = models.CharField(max_length=200, blank=True)
    platform = models.CharField(max_length=20, choices=Platform.choices, default=Platform.CUSTOM)
    owner = models.CharField(max_length=200, blank=True, help_text="Team or person on call.")
    description = models.TextField(blank=True)
    docs_url = models.URLField(max_length=500, blank=True, verbose_name="documentation link")
    freshness_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Most minutes allowed between two successful runs; empty for no expectation.",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PipelineQuerySet.as_manager()

    class Meta:
        ordering = ["client__slug", "slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["client", "slug"], name="pipeline_slug_unique_per_client"
            ),
            # Target of the alert rule's composite foreign key (pipeline_id, client_id).
            models.UniqueConstraint(fields=["id", "client"], name="pipeline_id_client_unique"),
            models.CheckConstraint(
                condition=Q(platform__in=Platform.values), name="pipeline_platform_known"
            ),
            models.CheckConstraint(
                condition=Q(freshness_minutes__isnull=True) | Q(freshness_minutes__gt=0),
                name="pipeline_freshness_positive",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.client.slug}/{self.slug}" if self.client_id else self.slug

    @property
    def display_name(self) -> str:
        return self.name or self.slug
