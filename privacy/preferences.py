"""Signed links to a person's preference centre (no sign-in: the signature is the key)."""

from django.core import signing
from django.urls import reverse

SALT = "cdp.preference-centre"
MAX_AGE_DAYS = 90


def preference_token(profile_id: int) -> str:
    return signing.TimestampSigner(salt=SALT).sign_object({"p": profile_id}, compress=True)


def preference_profile_id(token: str) -> int | None:
    """The profile id behind a valid, unexpired token, else None."""
    try:
        data = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=MAX_AGE_DAYS * 86400)
    except signing.BadSignature:  # includes SignatureExpired
        return None
    return data.get("p") if isinstance(data, dict) else None


def preference_url(request, profile_id: int, unsubscribe: str | None = None) -> str:
    """The absolute link to put in emails (`unsubscribe` preselects withdrawing a purpose)."""
    path = reverse("preference-centre", args=[preference_token(profile_id)])
    if unsubscribe:
        path += f"?unsubscribe={unsubscribe}"
    return request.build_absolute_uri(path) if request is not None else path
