from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from dashboards.grafana import rendered_dashboards


class Command(BaseCommand):
    help = (
        "Write the Grafana dashboards generated from dashboards/catalog.py to "
        "docker/grafana/dashboards/. --check only reports files that are out of date."
    )

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Write nothing; fail if stale.")

    def handle(self, *args, check: bool, **options):
        stale = []
        for path, content in rendered_dashboards().items():
            if path.exists() and path.read_text() == content:
                continue
            stale.append(path)
            if not check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
                self.stdout.write(f"wrote {path}")
        if check and stale:
            names = ", ".join(str(path) for path in stale)
            raise CommandError(f"out of date (run build_grafana_dashboards): {names}")
        if not stale:
            self.stdout.write("Grafana dashboards are up to date.")
