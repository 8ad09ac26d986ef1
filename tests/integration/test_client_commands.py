import pytest
from django.core.management import CommandError, call_command

from inventory.keys import hash_key
from inventory.models import Client

pytestmark = pytest.mark.django_db


def _run(*args) -> list[str]:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_create_client_prints_a_working_key_as_its_last_line():
    lines = _run("create_client", "acme", "--name", "Acme Corp", "--auto-register-pipelines")
    raw_key = lines[-1]
    client = Client.objects.get(slug="acme")
    assert client.name == "Acme Corp"
    assert client.auto_register_pipelines
    assert client.key_hash == hash_key(raw_key)
    assert Client.objects.for_key(raw_key).get() == client


def test_the_raw_key_is_never_stored():
    raw_key = _run("create_client", "acme")[-1]
    client = Client.objects.get(slug="acme")
    stored = [str(value) for value in Client.objects.filter(pk=client.pk).values().get().values()]
    assert all(raw_key not in value for value in stored)
    assert raw_key.startswith(client.key_prefix)


def test_create_client_refuses_a_taken_slug_with_a_clear_error():
    _run("create_client", "acme")
    with pytest.raises(CommandError, match="slug"):
        _run("create_client", "acme")


def test_rotate_client_key_replaces_the_key():
    old_key = _run("create_client", "acme")[-1]
    new_key = _run("rotate_client_key", "acme")[-1]
    assert new_key != old_key
    assert not Client.objects.for_key(old_key).exists()
    assert Client.objects.for_key(new_key).get().slug == "acme"


def test_rotating_an_unknown_client_names_it():
    with pytest.raises(CommandError, match="nobody"):
        _run("rotate_client_key", "nobody")
