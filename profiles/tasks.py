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
