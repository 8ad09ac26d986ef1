from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from common.env import env_str
from dashboards.embedding import EMBEDDABLE_DASHBOARDS, write_ids_file
from dashboards.metabase import MetabaseAPI, MetabaseError, ReportingDatabase, provision_metabase


class Command(BaseCommand):
    help = (
        "Create (or bring up to date) CHM's Metabase questions on the reporting views and the "
        "two dashboards, published for signed embedding with the client parameter locked. "
        "Idempotent: a rerun changes nothing. Prints the dashboard ids for CHM's settings, and "
        "with --ids-file writes them where CHM reads them (METABASE_DASHBOARD_IDS_FILE)."
    )

    def add_arguments(self, parser):
        database = settings.DATABASES["default"]
        parser.add_argument("--url", required=True, help="Metabase's address, as CHM reaches it.")
        parser.add_argument("--email", required=True, help="Metabase admin (created if none).")
        parser.add_argument(
            "--password",
            default=env_str("METABASE_ADMIN_PASSWORD"),
            help="Admin password; defaults to $METABASE_ADMIN_PASSWORD (keeps it out of ps).",
        )
        parser.add_argument(
            "--wait",
            type=float,
            default=0,
            metavar="SECONDS",
            help="Wait up to this long for Metabase to answer ready first (default: no wait).",
        )
        parser.add_argument(
            "--ids-file",
            type=Path,
            help="Also write the dashboard ids to this JSON file, for METABASE_DASHBOARD_IDS_FILE.",
        )
        parser.add_argument(
            "--db-host",
            default=database.get("HOST") or "localhost",
            help="CHM's database host as Metabase reaches it (default: CHM's own).",
        )
        parser.add_argument("--db-port", type=int, default=int(database.get("PORT") or 5432))
        parser.add_argument("--db-name", default=database.get("NAME"))
        parser.add_argument(
            "--db-user",
            default=env_str("CHM_REPORTING_ROLE", "chm_reporting"),
            help="The read-only dashboard role (default: $CHM_REPORTING_ROLE or chm_reporting).",
        )
        parser.add_argument(
            "--db-password",
            default=env_str("CHM_REPORTING_PASSWORD"),
            help="Its password (default: $CHM_REPORTING_PASSWORD).",
        )

    def handle(self, *args, **options):
        for name in ("password", "db_password"):
            if not options[name]:
                flag = "--" + name.replace("_", "-")
                raise CommandError(f"{flag} is required (or its environment variable).")
        database = ReportingDatabase(
            host=options["db_host"],
            port=options["db_port"],
            dbname=options["db_name"],
            user=options["db_user"],
            password=options["db_password"],
        )
        api = MetabaseAPI(options["url"])
        try:
            if options["wait"] > 0:
                api.wait_until_ready(timeout=options["wait"])
            result = provision_metabase(
                api=api,
                email=options["email"],
                password=options["password"],
                database=database,
                say=lambda message: self.stdout.write(f"  {message}"),
            )
        except MetabaseError as exc:
            raise CommandError(str(exc)) from exc
        if not result.changes:
            self.stdout.write("Metabase already up to date: nothing changed.")
        if options["ids_file"]:
            write_ids_file(options["ids_file"], result.dashboard_ids)
            self.stdout.write(f"Wrote the dashboard ids to {options['ids_file']}.")
        self.stdout.write("Set these for CHM's dashboards page:")
        for dashboard in EMBEDDABLE_DASHBOARDS:
            self.stdout.write(f"{dashboard.setting}={result.dashboard_ids[dashboard.key]}")
