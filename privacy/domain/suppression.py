"""Keyed one-way hashes of erased identifiers, and the identifiers a message carries. Pure."""

import hashlib
import hmac

from profiles.domain.identity import TypeRule, normalise

RULES = {
    "user_id": TypeRule(name="user_id"),
    "anonymous_id": TypeRule(name="anonymous_id"),
    "email": TypeRule(name="email", normaliser="email"),
    "phone": TypeRule(name="phone", normaliser="phone"),
}


def digest(key: bytes, id_type: str, value: str) -> str:
    """HMAC-SHA256 of type and normalised value: not reversible without the key."""
    return hmac.new(key, f"{id_type}:{value}".encode(), hashlib.sha256).hexdigest()


def _normalised(id_type: str, raw, region: str) -> str | None:
    rule = RULES[id_type]
    if id_type == "phone":
        rule = TypeRule(name="phone", normaliser="phone", default_region=region)
    try:
        return normalise(rule, raw)
    except ValueError:
        return None


def message_digests(
    key: bytes,
    *,
    user_id,
    anonymous_id,
    traits: dict,
    context: dict,
    region: str = "GB",
) -> set[str]:
    """The suppression digests of the identifiers one message carries."""
    found = set()
    candidates = [("user_id", user_id), ("anonymous_id", anonymous_id)]
    merged = dict((context or {}).get("traits") or {}) if isinstance(context, dict) else {}
    merged.update(traits or {})
    candidates += [("email", merged.get("email")), ("phone", merged.get("phone"))]
    for id_type, raw in candidates:
        if raw is None or raw == "":
            continue
        value = _normalised(id_type, raw, region)
        if value is not None:
            found.add(digest(key, id_type, value))
    return found
