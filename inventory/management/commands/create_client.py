from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from inventory.clients import create_client


class Command(BaseCommand):
    help = "Create a client and print its new ingestion key (the last line of output, shown once)."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="Display name (defaults to the slug).")
        parser.add_argument(
            "--auto-register-pipelines",
            action="store_true",
            help="Register unknown OpenLineage jobs of this client as new pipelines.",
        )

    def handle(self, *args, slug, name, auto_register_pipelines, **options):
        try:
            client, raw_key = create_client(
                slug=slug, name=name, auto_register_pipelines=auto_register_pipelines
            )
        except ValidationError as exc:
            raise CommandError("; ".join(_messages(exc))) from exc
        self.stdout.write(f"Created client {client.slug!r} ({client.name}).")
        self.stdout.write("Its ingestion key follows; it is shown only this once:")
        self.stdout.write(raw_key)


def _messages(exc: ValidationError) -> list[str]:
    if hasattr(exc, "message_dict"):
        return [f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items()]
    return list(exc.messages)
