"""The table production counts rate limits in (api/throttling.py): one row per key and
window, incremented by one statement. UNLOGGED: a count lives for a window of minutes, so it
is not worth a write-ahead-log flush per request, and a crash that empties the table only
restarts the windows."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = []

    operations = [
        migrations.RunSQL(
            """
            CREATE UNLOGGED TABLE chm_rate_limit_count (
                key text PRIMARY KEY,
                hits bigint NOT NULL,
                expires_at timestamptz NOT NULL
            );
            CREATE INDEX chm_rate_limit_count_expires_at ON chm_rate_limit_count (expires_at);
            """,
            reverse_sql="DROP TABLE chm_rate_limit_count;",
        )
    ]
