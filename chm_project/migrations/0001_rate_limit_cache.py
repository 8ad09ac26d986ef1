"""The table of the database cache that counts rate limits in production (settings:
RATE_LIMIT_TABLE), created as Django's ``createcachetable`` creates it: shared by every worker
and machine without a service of its own, and there after ``migrate`` with no extra step."""

from django.core.management import call_command
from django.db import migrations

TABLE = "chm_rate_limit"


def create_table(apps, schema_editor):
    call_command("createcachetable", TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop_table(apps, schema_editor):
    schema_editor.execute('DROP TABLE IF EXISTS "chm_rate_limit"')


class Migration(migrations.Migration):
    dependencies = []

    operations = [migrations.RunPython(create_table, drop_table)]
