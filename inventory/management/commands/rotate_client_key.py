from django.core.management.base import BaseCommand, CommandError

from inventory.models import Client


class Command(BaseCommand):
    help = "Replace a client's ingestion key and print the new one (the old key stops working)."

    def add_arguments(self, parser):
        parser.add_argument("slug")

    def handle(self, *args, slug, **options):
        try:
            client = Client.objects.get(slug=slug)
        except Client.DoesNotExist as exc:
            raise CommandError(f"No client with slug {slug!r}.") from exc
        raw_key = client.rotate_key()
        self.stdout.write(f"Rotated the key of {client.slug!r}; the old key no longer works.")
        self.stdout.write(raw_key)
