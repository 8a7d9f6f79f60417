"""Consent decisions from the consent API, the admin UI and the preference centre.

Each decision is stored as a "Consent Updated" track event on the person's profile (the one
append-only log that collection and file imports also write to) and folded into
Profile.consent at once, so the next send sees it.
"""

import uuid
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from cdpapp.audit import audit_record
from privacy.models import Purpose
from profiles.domain import survivorship
from profiles.models import Event, Profile, Source
from profiles.selectors.profiles import profile_resolve
from profiles.services.processing import CONSENT_EVENT

CHANNELS = {
    "api": "Consent API",
    "admin": "Admin UI",
    "preference_centre": "Preference centre",
    "import": "File import",
}
LEGAL_BASES = ("consent", "contract", "legal_obligation", "legitimate_interest")
STATUSES = ("granted", "denied", "withdrawn")


class ConsentError(ValueError):
    """The decision cannot be recorded; the message says why."""


def _channel_source(channel: str) -> Source:
    name = CHANNELS.get(channel)
    if name is None:
        raise ConsentError(f"Unknown consent channel {channel!r}.")
    source, _ = Source.objects.get_or_create(name=name, defaults={"kind": Source.Kind.SERVER})
    return source


def _surviving(profile: Profile) -> Profile:
    found = profile_resolve(profile_id=profile.pk)
    if found is None:
        raise ConsentError(f"Profile {profile.pk} does not exist any more.")
    return found


@transaction.atomic
def consent_record(
    *,
    profile: Profile,
    purpose: str,
    status: str,
    channel: str,
    legal_basis: str = "consent",
    expires_at: datetime | None = None,
    evidence: dict | None = None,
    actor=None,
    at: datetime | None = None,
) -> Event:
    """Record one decision for one purpose; the most recent decision per purpose is in force."""
    if status not in STATUSES:
        raise ConsentError(f"Status must be one of {', '.join(STATUSES)}, not {status!r}.")
    if legal_basis not in LEGAL_BASES:
        raise ConsentError(f"Legal basis must be one of {', '.join(LEGAL_BASES)}.")
    found = Purpose.objects.filter(slug=purpose).first()
    if found is None:
        raise ConsentError(f"Unknown purpose {purpose!r}: define it under Admin → Purposes.")
    now = at or timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ConsentError("The expiry must be in the future.")
    profile = Profile.objects.select_for_update().get(pk=_surviving(profile).pk)
    granted = status == "granted"
    details = {"status": status, "legal_basis": legal_basis}
    if expires_at is not None:
        details["expires_at"] = expires_at.isoformat()
    proof = {
        "purpose_version": found.version,
        "purpose_text": found.description,
        "channel": channel,
        **(evidence or {}),
    }
    event = Event.objects.create(
        source=_channel_source(channel),
        message_id=f"consent-{uuid.uuid4()}",
        type="track",
        name=CONSENT_EVENT,
        timestamp=now,
        received_at=now,
        processed_at=now,
        properties={"purpose": purpose, **details, "evidence": proof},
        consent={purpose: granted},
        profile=profile,
        origin_profile=profile,
    )
    before = profile.consent.get(purpose)
    survivorship.apply_consent(
        profile.consent, {purpose: granted}, source=event.source_id, event=event.pk, at=now,
        details=details,
    )  # fmt: skip
    profile.save(update_fields=["consent", "updated_at"])
    audit_record(
        actor=actor, action="consent.changed", object_type="profile", object_id=profile.pk,
        before={purpose: before}, after={purpose: profile.consent[purpose]},
    )  # fmt: skip
    from profiles.signals import profiles_changed

    changed = {profile.pk}
    transaction.on_commit(lambda: profiles_changed.send(sender=Profile, profile_ids=changed))
    return event


def consent_history(profile: Profile):
    """Every consent decision of a profile, newest first (from the event log)."""
    return (
        Event.objects.filter(profile=_surviving(profile), consent__isnull=False)
        .select_related("source")
        .order_by("-timestamp", "-id")
    )
