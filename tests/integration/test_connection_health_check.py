"""A persistent database connection is checked before each request's first query
(chm_project/postgresql/base.py): a sound idle connection passes without a round trip, one
that the server ended is replaced before the request uses it."""

from __future__ import annotations

import select

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def next_request() -> None:
    """What Django does between two requests with a persistent connection."""
    connection.close_if_unusable_or_obsolete()


def from_another_connection(statement: str, params: list | None = None) -> None:
    """``statement`` in a session of its own, with the test database's own settings (the
    embedded server's socket included)."""
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute(statement, params)
    finally:
        other.close()


def terminate(pid: int) -> None:
    from_another_connection("SELECT pg_terminate_backend(%s, 5000)", [pid])


@pytest.fixture
def health_checks(monkeypatch):
    # As configured (DB_CONN_MAX_AGE, conn_health_checks), whatever the test runner set up.
    wrapper = connections[DEFAULT_DB_ALIAS]
    monkeypatch.setattr(wrapper, "health_check_enabled", True)
    monkeypatch.setitem(wrapper.settings_dict, "CONN_MAX_AGE", 60)
    wrapper.close()


def test_a_sound_idle_connection_is_reused_without_a_round_trip(health_checks, monkeypatch):
    pid = backend_pid()
    next_request()

    def no_select_one():
        raise AssertionError("the health check sent SELECT 1")

    monkeypatch.setattr(connection, "is_usable", no_select_one)
    assert backend_pid() == pid


def test_a_connection_the_server_ended_is_replaced_before_the_next_query(health_checks):
    pid = backend_pid()
    next_request()
    terminate(pid)
    assert backend_pid() != pid


def test_a_connection_with_an_unread_message_gets_the_full_check(health_checks, monkeypatch):
    with connection.cursor() as cursor:
        cursor.execute("LISTEN chm_health_check_test")
    pid = backend_pid()
    # A notification reaches the idle connection unasked for: the socket has something to read.
    from_another_connection("NOTIFY chm_health_check_test")
    select.select([connection.connection.pgconn.socket], [], [], 5)
    checked = []
    monkeypatch.setattr(connection, "is_usable", lambda: checked.append(True) or True)
    next_request()
    assert backend_pid() == pid
    assert checked == [True]
