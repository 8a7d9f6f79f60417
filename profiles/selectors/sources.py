"""Reads about sources and their write keys."""

from django.db.models import Q
from django.utils import timezone

from cdpapp.crypto import decrypt
from profiles.models import Source, WriteKey


def source_for_write_key(key: str) -> Source | None:
    """The enabled source whose live write key is `key`, or None."""
    if not key:
        return None
    now = timezone.now()
    found = (
        WriteKey.objects.select_related("source")
        .filter(digest=WriteKey.digest_of(key), revoked_at__isnull=True, source__enabled=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .first()
    )
    return found.source if found else None


def source_live_keys(source: Source) -> list[WriteKey]:
    """The write keys of `source` that still work, newest first."""
    now = timezone.now()
    return list(
        source.write_keys.filter(revoked_at__isnull=True).filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now)
        )
    )


def source_current_key(source: Source) -> str | None:
    """The newest live write key of `source`, decrypted (for install help), or None."""
    keys = source_live_keys(source)
    return decrypt(keys[0].encrypted) if keys else None


def source_list():
    """All sources, by name."""
    return Source.objects.order_by("name")
