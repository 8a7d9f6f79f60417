import shlex
import time
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from profiles.domain.csv_import import CsvFileError, MappingError, parse_mapping_args
from profiles.domain.csv_import import suggest_mapping as suggested_targets
from profiles.models import ImportJob
from profiles.selectors.imports import (
    import_row_errors,
    import_row_warnings,
    import_source_named,
    import_sources,
)
from profiles.services.imports import import_file_inspect, import_job_create, import_job_run


class Command(BaseCommand):
    help = (
        "Import a CSV file of offline records into a source, now: one identify message per row, "
        "or one track message per row when columns are mapped to event:*. Prints the counts and "
        "the rejected rows with their reasons, then the rows imported with a warning. Importing "
        "the same file again stores nothing twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="a CSV file (comma, semicolon or tab separated)")
        parser.add_argument("--source", required=True, help="the name of the source to import into")
        parser.add_argument(
            "--map",
            dest="mapping",
            action="extend",
            nargs="+",
            default=[],
            metavar="COLUMN=TARGET",
            help="what a column holds: identifier:TYPE, trait:NAME, consent:PURPOSE, event:name, "
            "event:timestamp or event:property:NAME; columns not mapped are skipped",
        )
        parser.add_argument(
            "--show",
            type=int,
            default=100,
            help="how many rejected rows, and rows with a warning, to print (default 100)",
        )

    def handle(self, *args, file, source, mapping, show, **options):
        target = import_source_named(source)
        if target is None:
            names = ", ".join(repr(s.name) for s in import_sources()) or "none yet"
            raise CommandError(f"Unknown source {source!r}. Enabled sources: {names}.")
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        with path.open("rb") as handle:
            if not mapping:
                raise CommandError(self._suggestion(handle))
            try:
                job = import_job_create(
                    source=target,
                    file=File(handle, name=path.name),
                    mapping=parse_mapping_args(mapping),
                    name=path.name,
                )
            except (MappingError, CsvFileError) as exc:
                raise CommandError(str(exc)) from exc
        started = time.monotonic()
        job = import_job_run(job=job)
        elapsed = time.monotonic() - started
        if job.status != ImportJob.Status.DONE:
            raise CommandError(f"Import job {job.pk} failed: {job.error}")
        self._report(job, elapsed, show)

    def _suggestion(self, handle) -> str:
        try:
            header = import_file_inspect(file=handle).header
        except CsvFileError as exc:
            return str(exc)
        suggested = " ".join(
            shlex.quote(f"{column}={target}")
            for column, target in suggested_targets(header).items()
            if target
        )
        return (
            "Say what each column holds with --map COLUMN=TARGET. "
            f"Suggested from the header: --map {suggested}"
        )

    def _report(self, job: ImportJob, elapsed: float, show: int) -> None:
        self.stdout.write(
            f"Imported {job.original_name} into {job.source.name} (job {job.pk}) "
            f"in {elapsed:.1f} s:"
        )
        for label, value in (
            ("rows", job.rows_total),
            ("accepted", job.accepted),
            ("duplicates", job.duplicates),
            ("rejected", job.rejected),
            ("warnings", job.warnings),
        ):
            self.stdout.write(f"  {label:<11}{value}")
        for title, count, rows in (
            ("Rejected rows:", job.rejected, import_row_errors(job)),
            ("Rows imported with a warning:", job.warnings, import_row_warnings(job)),
        ):
            if not count:
                continue
            self.stdout.write(title)
            for error in rows[: max(show, 0)]:
                self.stdout.write(f"  row {error.row_number} [{error.code}] {error.reason}")
            if count > show:
                self.stdout.write(f"  ... and {count - show} more (see job {job.pk}).")
