"""Writes about sources: create, rotate and revoke write keys, enable and disable."""

import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from cdpapp.crypto import encrypt
from profiles.models import Source, WriteKey

DEFAULT_GRACE = timedelta(hours=24)


def _new_key(source: Source) -> tuple[WriteKey, str]:
    key = f"wk_{secrets.token_urlsafe(24)}"
    write_key = WriteKey.objects.create(
        source=source, digest=WriteKey.digest_of(key), encrypted=encrypt(key), prefix=key[:8]
    )
    return write_key, key


@transaction.atomic
def source_create(*, name: str, kind: str, **options) -> tuple[Source, str]:
    """Create a source and its first write key; returns the source and the key."""
    source = Source(name=name.strip(), kind=kind, **options)
    source.full_clean()
    source.save()
    _, key = _new_key(source)
    return source, key


@transaction.atomic
def source_rotate_key(*, source: Source, grace: timedelta = DEFAULT_GRACE) -> str:
    """Issue a new write key; the previous live keys keep working until `grace` has passed."""
    until = timezone.now() + grace
    source.write_keys.filter(revoked_at__isnull=True, expires_at__isnull=True).update(
        expires_at=until
    )
    _, key = _new_key(source)
    return key


def source_revoke_key(*, write_key: WriteKey) -> WriteKey:
    """Revoke a write key at once."""
    write_key.revoked_at = timezone.now()
    write_key.save(update_fields=["revoked_at"])
    return write_key


def source_update(*, source: Source, **fields) -> Source:
    """Change a source's settings (enabled, limits, tracking plan) after validating them."""
    for name, value in fields.items():
        setattr(source, name, value)
    source.full_clean()
    source.save()
    return source
