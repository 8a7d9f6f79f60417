"""Reads for consent and privacy."""

from django.conf import settings
from django.db import connection
from django.utils import timezone

from privacy.models import ConsentConflict, DataSubjectRequest, Purpose
from profiles.selectors.profiles import profile_family_ids


def suppression_key() -> bytes:
    return settings.SUPPRESSION_KEY.encode()


def suppressed(digests: set[str]) -> set[str]:
    """Which of `digests` belong to erased people (one indexed query)."""
    if not digests:
        return set()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT digest FROM privacy_suppression WHERE digest = ANY(%s)", [sorted(digests)]
        )
        return {row[0] for row in cursor.fetchall()}


def purposes():
    return Purpose.objects.order_by("name")


def requests_overdue():
    """Open data-subject requests past their deadline."""
    return DataSubjectRequest.objects.filter(status="open", due_at__lt=timezone.now())


def requests_list(*, status: str | None = None):
    found = DataSubjectRequest.objects.select_related("profile", "created_by")
    return found.filter(status=status) if status else found


def consent_conflicts_list(*, status: str | None = None):
    """Consent conflicts found at merges, newest first, optionally only `status` ones."""
    found = ConsentConflict.objects.select_related("merge", "resolved_by")
    return found.filter(status=status) if status else found


def profile_consent_conflicts(*, profile_id: int):
    """The consent conflicts of a profile's merges, and of the profiles merged into it."""
    family = profile_family_ids(profile_id=profile_id)
    return consent_conflicts_list().filter(profile_id__in=family)


def profile_open_consent_conflicts(*, profile_id: int) -> int:
    """How many of the profile's consent conflicts are still open."""
    return profile_consent_conflicts(profile_id=profile_id).filter(status="open").count()


AUTOMATIC_MERGES = ("shared_identifier", "alias", "probabilistic")


def consent_conflict_automatic_merges(*, since) -> int:
    """How many automatic merges since `since` brought a consent conflict (each would have
    waited for review with the merge setting on)."""
    return (
        ConsentConflict.objects.filter(detected_at__gte=since, merge__reason__in=AUTOMATIC_MERGES)
        .values("merge_id")
        .distinct()
        .count()
    )
