"""Reads for how automatic merges treat consent: the merge settings and the conflict window.

Imports no service, so the processor can use it."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from profiles.domain.consent_conflicts import ConsentConflict, consent_conflicts
from profiles.models import MergeSettings


def merge_settings_get() -> MergeSettings:
    """The merge settings (the defaults, unsaved, until an admin first changes them)."""
    return MergeSettings.objects.filter(pk=1).first() or MergeSettings(pk=1)


def consent_conflict_window() -> timedelta:
    """How recent both decisions must be to conflict (CONSENT_CONFLICT_WINDOW_DAYS)."""
    return timedelta(days=settings.CONSENT_CONFLICT_WINDOW_DAYS)


def merge_consent_conflicts(
    a: dict, b: dict, *, now: datetime | None = None
) -> list[ConsentConflict]:
    """The conflicts between two profiles' consent if they merged now."""
    return consent_conflicts(
        a or {}, b or {}, now=now or timezone.now(), window=consent_conflict_window()
    )
