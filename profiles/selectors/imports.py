"""Reads about CSV imports: jobs, their rejected rows and warnings, and the sources one may
import into."""

from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from profiles.models import ImportJob, ImportRowError, Source


def import_job_list() -> QuerySet[ImportJob]:
    """Every import job, newest first, with its source and author."""
    return ImportJob.objects.select_related("source", "created_by").order_by("-created_at", "-pk")


def import_job_get(pk: int) -> ImportJob | None:
    """One import job with its source, or None."""
    return import_job_list().filter(pk=pk).first()


def import_row_errors(job: ImportJob) -> QuerySet[ImportRowError]:
    """The rejected rows of a job, in file order."""
    return job.row_errors.filter(severity=ImportRowError.Severity.ERROR).order_by(
        "row_number", "pk"
    )


def import_row_warnings(job: ImportJob) -> QuerySet[ImportRowError]:
    """The rows of a job imported with a warning, in file order."""
    return job.row_errors.filter(severity=ImportRowError.Severity.WARNING).order_by(
        "row_number", "pk"
    )


def import_sources() -> QuerySet[Source]:
    """The sources a file may be imported into: the enabled ones, by name."""
    return Source.objects.filter(enabled=True).order_by("name")


def import_source(pk: int) -> Source | None:
    """An enabled source by id, or None."""
    return import_sources().filter(pk=pk).first()


def import_source_named(name: str) -> Source | None:
    """The source called `name`, or None."""
    return Source.objects.filter(name=name).first()


def import_job_is_stale(job: ImportJob) -> bool:
    """Whether a job still shows "running" long after its worker must have stopped."""
    return (
        job.status == ImportJob.Status.RUNNING
        and job.started_at is not None
        and job.started_at < timezone.now() - stale_after()
    )


def stale_after() -> timedelta:
    """How long a job may show "running" before its worker must have died: the task timeout."""
    return timedelta(seconds=int(settings.Q_CLUSTER.get("timeout", 600)) + 60)


def import_job_done_for(*, source: Source, sha256: str) -> ImportJob | None:
    """A finished import of the file with this sha256 into `source`, or None."""
    return (
        ImportJob.objects.filter(source=source, sha256=sha256, status=ImportJob.Status.DONE)
        .order_by("-created_at")
        .first()
    )
