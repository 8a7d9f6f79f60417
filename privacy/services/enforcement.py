"""The one place that answers "may profile P be sent to destination D now, and with what?".

Every sync and journey send calls `send_decision`; it reads the profile's current consent,
applies the purpose defaults of the profile's region and the purpose's validity, and returns the
payload fit to send (PII fields whose purpose lacks consent dropped or hashed).
"""

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone

from privacy.domain.enforcement import Decision, decide, fit_payload, region_of
from privacy.models import Purpose
from profiles.models import Profile

DEFAULT_PII = {"email": None, "phone": None, "first_name": None, "last_name": None,
               "address": None, "firstName": None, "lastName": None}  # fmt: skip


@dataclass(frozen=True)
class SendDecision:
    allowed: bool
    reason: str
    purpose: str
    payload: dict
    withheld_fields: list[str]


def purposes_config() -> dict[str, dict]:
    return {
        p.slug: {"defaults": p.defaults or {}, "validity_days": p.validity_days}
        for p in Purpose.objects.all()
    }


def consent_decision(
    *, profile: Profile, purpose: str, now: datetime | None = None, purposes=None
) -> Decision:
    """The decision for one purpose for one profile."""
    return decide(
        consent=profile.consent or {},
        purpose=purpose,
        purposes=purposes if purposes is not None else purposes_config(),
        region=region_of(profile.traits or {}),
        now=now or timezone.now(),
    )


def send_decision(
    *, profile: Profile, destination, payload: dict, now: datetime | None = None, purposes=None
) -> SendDecision:
    """Whether `profile` may be sent to `destination` now, and the payload fit to send."""
    purposes = purposes if purposes is not None else purposes_config()
    now = now or timezone.now()
    if profile.merged_into_id is not None or not getattr(destination, "enabled", True):
        return SendDecision(False, "inactive", destination.purpose, {}, list(payload))
    main = consent_decision(
        profile=profile, purpose=destination.purpose, now=now, purposes=purposes
    )
    if not main.allowed:
        return SendDecision(False, main.reason, main.purpose, {}, list(payload))
    # PII fields need their own purpose, or at least the destination's.
    field_purposes = {key: destination.purpose for key in DEFAULT_PII if key in payload} | dict(
        destination.field_purposes or {}
    )
    decisions = {
        purpose: consent_decision(profile=profile, purpose=purpose, now=now, purposes=purposes)
        for purpose in set(field_purposes.values())
    }
    fitted, withheld = fit_payload(
        payload, field_purposes=field_purposes, decisions=decisions, policy=destination.pii_policy
    )
    return SendDecision(True, main.reason, main.purpose, fitted, withheld)
