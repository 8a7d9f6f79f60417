from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from profiles.models import Source
from profiles.services.sources import source_create


class Command(BaseCommand):
    help = "Create a source and print its write key (the last line)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--kind", required=True, choices=Source.Kind.values)

    def handle(self, *args, name, kind, **options):
        try:
            source, key = source_create(name=name, kind=kind)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(f"Created {source.get_kind_display()} source {source.name!r}. Write key:")
        self.stdout.write(key)
