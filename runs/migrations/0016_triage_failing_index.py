"""An index of the failing pipelines' state rows, for triage (Q6).

Q6 shows the pipelines whose latest success-or-failed run failed, a few percent of them, but
read the whole pipeline-state table to find them: at 10,000 pipelines about 1,100–1,700 pages
(the table's size follows how often its rows were rewritten, not only how many there are),
about half of the view's time. The partial index finds those rows directly.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("inventory", "0001_initial"),
        ("runs", "0015_change_windows"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="pipelinestate",
            index=models.Index(
                condition=models.Q(("last_outcome_status", "failed")),
                fields=["pipeline"],
                name="pipeline_state_failing",
            ),
        ),
    ]
