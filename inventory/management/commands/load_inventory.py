from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from inventory.loading import InventoryError, load_inventory_file


class Command(BaseCommand):
    help = (
        "Create or update the clients, pipelines and alert rules a JSON or YAML file states "
        "(idempotent; a bad file is refused whole, each error with its line and path)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--dry-run", action="store_true", help="Validate and count, then roll back."
        )

    def handle(self, *args, file: Path, dry_run: bool, **options):
        try:
            result = load_inventory_file(path=file, dry_run=dry_run)
        except InventoryError as exc:
            lines = "\n".join(f"  {where}: {message}" for where, message in exc.errors)
            raise CommandError(f"{file} refused, nothing was written:\n{lines}") from exc
        prefix = "Dry run (rolled back): " if dry_run else ""
        self.stdout.write(f"{prefix}{result.summary()}")
