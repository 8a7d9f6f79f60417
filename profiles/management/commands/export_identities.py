import csv
from contextlib import nullcontext

from django.core.management.base import BaseCommand, CommandError

from profiles.selectors.profiles import identities_for_export

HEADER = ("profile_id", "id_type", "value")


class Command(BaseCommand):
    help = (
        "Write every identifier of the active profiles as CSV with the header "
        "profile_id,id_type,value, one row per identifier. Rows are streamed from the database, "
        "so any number of identifiers fits in constant memory."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", required=True, metavar="FILE", help="where to write the CSV; - for stdout"
        )

    def handle(self, *args, output: str, **options):
        try:
            target = (
                nullcontext(self.stdout)
                if output == "-"
                else open(output, "w", newline="", encoding="utf-8")  # noqa: SIM115
            )
        except OSError as exc:
            raise CommandError(f"Cannot write {output}: {exc.strerror}") from exc
        rows = 0
        with target as stream:
            # OutputWrapper (stdout) adds no line ending to text that already ends with one.
            writer = csv.writer(stream, lineterminator="\n")
            writer.writerow(HEADER)
            for row in identities_for_export():
                writer.writerow(row)
                rows += 1
        where = "stdout" if output == "-" else output
        self.stderr.write(f"Wrote {rows} identifier{'s' if rows != 1 else ''} to {where}.")
