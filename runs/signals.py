"""Signals the runs app sends, so other apps can react without runs importing them."""

from django.dispatch import Signal

# Sent after the transaction that stored terminal runs has committed, once per ingest call,
# with ``pipeline_ids``: the set of pipelines that gained or corrected a terminal run.
terminal_runs_ingested = Signal()
