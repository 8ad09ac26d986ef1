"""Turn PostgreSQL's JIT compilation off for this database.

JIT starts on a query's estimated cost, and the dashboard views' estimates cross its
threshold although they run in milliseconds to a few hundred: compiling then costs 0.3–0.8 s
per query (measured, bench/dashboards.py). CHM's other queries are short OLTP statements that
never gain from it. A database setting reaches every connection: the pages, Grafana and
Metabase alike. Without the right to alter the database, the migration only warns.
"""

from django.db import migrations

SET_JIT = """
DO $chm$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = {value}', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'CHM: cannot change jit for this database (not its owner); dashboards will be slower';
END
$chm$
"""


class Migration(migrations.Migration):
    dependencies = [
        ("runs", "0005_dashboard_indexes"),
    ]

    operations = [
        migrations.RunSQL(
            sql=SET_JIT.format(value="off"),
            reverse_sql=SET_JIT.format(value="DEFAULT"),
        ),
    ]
