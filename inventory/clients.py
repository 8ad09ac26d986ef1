"""Use cases for clients: creating one with its first key, and replacing a key."""

from __future__ import annotations

from django.db import transaction

from inventory.models import Client


def create_client(
    *, slug: str, name: str = "", auto_register_pipelines: bool = False
) -> tuple[Client, str]:
    """Create a client with a fresh ingestion key; answer the client and the raw key.

    The raw key exists only in the return value: the database keeps its hash.
    """
    client = Client(slug=slug, name=name or slug, auto_register_pipelines=auto_register_pipelines)
    client.full_clean()
    with transaction.atomic():
        client.save()
        raw_key = client.rotate_key()
    return client, raw_key
