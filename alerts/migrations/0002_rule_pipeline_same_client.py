"""Refuse, in the database, an alert rule whose pipeline belongs to another client.

A composite foreign key (pipeline_id, client_id) → pipeline (id, client_id): with the
pipeline set, the pair must exist; with it NULL, the MATCH SIMPLE default skips the check.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("inventory", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql="""
                ALTER TABLE alerts_alertrule
                ADD CONSTRAINT alertrule_pipeline_same_client
                FOREIGN KEY (pipeline_id, client_id)
                REFERENCES inventory_pipeline (id, client_id)
                ON DELETE CASCADE
            """,
            reverse_sql="ALTER TABLE alerts_alertrule DROP CONSTRAINT alertrule_pipeline_same_client",
        ),
    ]
