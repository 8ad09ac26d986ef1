"""Migrations are frozen: the SQL every migration applies and reverses stays what it was when
the migration landed, whatever happens to the files it reads (runs/sql/, moved or split).

Each migration's RunSQL texts (those inside SeparateDatabaseAndState too), forward and
reverse, in order, are hashed and compared with the digest recorded here when it landed. A new migration with SQL adds its line (the failure prints
it); a recorded one never changes.
"""

from __future__ import annotations

import hashlib

from django.db import connection, migrations
from django.db.migrations.loader import MigrationLoader

CHM_APPS = ("chm", "inventory", "runs", "alerts")

FROZEN = {
    (
        "alerts",
        "0005_alert_state_tables",
    ): "f4b04048546521dc67d721d82295dc607293574127dc04e0b4e1c651610bfbcc",
    (
        "alerts",
        "0002_rule_pipeline_same_client",
    ): "70538379003fbc7c5fa3b6e0d4c869252d402bc0c0bdb72c9a79f529f8f5e4b9",
    (
        "chm",
        "0001_rate_limit_counts",
    ): "c42b969b46465f409dc6c84eace71ece9ef1d2dbfdad23df5dedc5509ec50b87",
    (
        "runs",
        "0003_reporting_views",
    ): "1e37641f30b532c8dcef81bbbeff509e7f262451d2a40aa617d0570acfd8ff08",
    (
        "runs",
        "0006_database_without_jit",
    ): "ac22f060e076bb3b8666e0f3059de0b01d2f1ec236987cac60037c089ddbd14f",
    (
        "runs",
        "0007_pipeline_state",
    ): "f7e8e02250e6534d18eb9d37bc47d23305c5febbce2ee7d7fafdca97fbf1db69",
    (
        "runs",
        "0008_daily_rollup",
    ): "76509e48447515eedd5f1ef77b0932871c64f93ed13f713b9ca297336ca94c0d",
    (
        "runs",
        "0009_what_changed_v2",
    ): "ef89270763033cf16ca6025182701d6dbbf5dce36cd401d549cb1eaa0253593a",
    (
        "runs",
        "0010_cheaper_run_triggers",
    ): "283f1ea20532b20a4c90eb688a967591c26d7e07d3b70c27b31faa76a2f03ea6",
    (
        "runs",
        "0012_daily_platform_totals",
    ): "1fed2e5375e3fd9efdbe096eb05daedc89d3150d8ff7e7ec5a030bbc8f2396bf",
    (
        "runs",
        "0013_platform_failure_rates_v2",
    ): "7224764065dbe21160b5480a1a5ad48d115233dec6892953e567a7f3a39fa82c",
    (
        "runs",
        "0014_flaky_ranking_v3",
    ): "c9405500dc79460af1b9a8f70b46046d124da13a157badc39862d752f2cd1f69",
    (
        "runs",
        "0015_change_windows",
    ): "168ea0ea776fdc693aa62ff28fab5fb2625b04492ae4285e28a38adc9aa10caa",
    (
        "runs",
        "0017_writers_keep_derived_state",
    ): "c33a6f324e14dc4be4e87a8c79c241acdad035c265f30634c286c7386b174683",
    (
        "runs",
        "0018_failure_signatures",
    ): "dba63b0e83650305533135731fd86ea374ee1e35996896ed256bc37ae1687f39",
    (
        "runs",
        "0019_incidents_and_error_signatures",
    ): "ea1464fd765ea4060c9b45295bb1f26d03c86c24809a1d94bde074e713ad185f",
    (
        "runs",
        "0020_incident_views_v2",
    ): "2fd41e3219b8228f8fdc2219eddd1c750d018f397c609aa532a950e19ac73a1f",
}


def _texts(sql) -> list[str]:
    if sql is migrations.RunSQL.noop:
        return ["<noop>"]
    if isinstance(sql, str):
        return [sql]
    return [statement if isinstance(statement, str) else repr(statement) for statement in sql]


def _flattened(operations):
    """The operations, with those that SeparateDatabaseAndState runs on the database."""
    for operation in operations:
        if isinstance(operation, migrations.SeparateDatabaseAndState):
            yield from _flattened(operation.database_operations)
        else:
            yield operation


def applied_sql_digests() -> dict[tuple[str, str], str]:
    """sha256 of the SQL each CHM migration runs, for those that run any."""
    loader = MigrationLoader(connection, ignore_no_migrations=True, load=False)
    loader.load_disk()
    digests = {}
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if app not in CHM_APPS:
            continue
        texts = []
        for operation in _flattened(migration.operations):
            if isinstance(operation, migrations.RunSQL):
                texts += ["forward", *_texts(operation.sql)]
                texts += ["reverse", *_texts(operation.reverse_sql)]
        if texts:
            digests[(app, name)] = hashlib.sha256("\0".join(texts).encode()).hexdigest()
    return digests


def test_every_migration_applies_the_sql_it_landed_with():
    digests = applied_sql_digests()
    unrecorded = {key: value for key, value in digests.items() if key not in FROZEN}
    assert not unrecorded, "Record the SQL of the new migrations in FROZEN:\n" + "\n".join(
        f'    ("{app}", "{name}"): "{digest}",' for (app, name), digest in unrecorded.items()
    )
    changed = sorted(key for key in FROZEN if digests.get(key) != FROZEN[key])
    assert not changed, f"These migrations no longer apply the SQL they landed with: {changed}"
