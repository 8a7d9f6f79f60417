"""Background tasks of the profiles app (django-q2)."""

from profiles.services.maintenance import rate_windows_prune


def prune_rate_windows() -> int:
    """Scheduled every minute: drop request counters older than a minute."""
    return rate_windows_prune()


def process_events() -> int:
    """Drain unprocessed events into profiles (queued by collection; also every minute)."""
    from profiles.services.processing import events_process_pending, processing_started

    processing_started()
    return events_process_pending()


def import_job_run_task(job_id: int) -> dict | None:
    """Run one CSV import job; returns its status and counts (None if it was deleted)."""
    from profiles.models import ImportJob
    from profiles.services.imports import import_job_run

    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None:
        return None
    job = import_job_run(job=job)
    return {
        "status": job.status,
        "rows": job.rows_done,
        "accepted": job.accepted,
        "duplicates": job.duplicates,
        "rejected": job.rejected,
        "warnings": job.warnings,
    }
