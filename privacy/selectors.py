"""Reads for consent and privacy."""

from django.conf import settings
from django.db import connection
from django.utils import timezone

from privacy.models import DataSubjectRequest, Purpose


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
