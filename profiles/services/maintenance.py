"""Housekeeping writes."""

import time

from profiles.models import RateWindow


def rate_windows_prune(*, keep_seconds: int = 60) -> int:
    """Delete per-second request counters older than `keep_seconds`; returns how many."""
    deleted, _ = RateWindow.objects.filter(second__lt=int(time.time()) - keep_seconds).delete()
    return deleted
