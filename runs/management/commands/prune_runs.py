from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from runs.models import Run
from runs.retention import DEFAULT_BATCH_SIZE, prune_runs_started_before


class Command(BaseCommand):
    help = (
        "Delete the runs that started more than DAYS days ago, in batches of short "
        "transactions, and report how many went."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            required=True,
            metavar="DAYS",
            dest="days",
            help="Delete runs whose started_at is more than DAYS days before now.",
        )
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
        parser.add_argument(
            "--pause",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="Sleep between batches (gives a replica or autovacuum room on a busy server).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count the runs that would be deleted."
        )

    def handle(self, *args, days: int, batch_size: int, pause: float, dry_run: bool, **options):
        if days < 1:
            raise CommandError("--older-than must be at least 1 day.")
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        cutoff = timezone.now() - dt.timedelta(days=days)
        if dry_run:
            count = Run.objects.filter(started_at__lt=cutoff).count()
            self.stdout.write(f"Would delete {count} runs started before {cutoff.isoformat()}.")
            return

        def progress(batch: int, deleted: int) -> None:
            if options["verbosity"] >= 2:
                self.stdout.write(f"batch {batch}: {deleted} runs deleted so far")

        report = prune_runs_started_before(
            cutoff=cutoff, batch_size=batch_size, pause_seconds=pause, on_batch=progress
        )
        self.stdout.write(
            f"Deleted {report.deleted} runs started before {report.cutoff.isoformat()} "
            f"in {report.batches} batches ({report.seconds:.1f} s)."
        )
