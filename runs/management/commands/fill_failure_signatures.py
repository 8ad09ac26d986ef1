from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError, CommandParser

from runs.signature_backfill import DEFAULT_BATCH_SIZE, fill_failure_signatures


class Command(BaseCommand):
    help = (
        "Give failed runs stored without a failure signature theirs (--recompute: every "
        "failed run's, after a change of the signature rules), in batches of short "
        "transactions, and report how many changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--recompute",
            action="store_true",
            help="Recompute every failed run's signature, not only the missing ones.",
        )
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)

    def handle(self, *args, recompute: bool, batch_size: int, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        changed = fill_failure_signatures(recompute=recompute, batch_size=batch_size)
        self.stdout.write(f"{changed} failed runs given their failure signature.")
