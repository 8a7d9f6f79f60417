"""May this profile be sent to this destination for this purpose now? Pure module.

Missing consent is a refusal unless the purpose is opt-out in the profile's region; an expired
grant is a refusal; a refusal or withdrawal is a refusal. PII fields whose own purpose lacks
consent are dropped, or replaced by a SHA-256 hash when the destination asks for hashes.
"""

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

EEA = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
    ]
)
COUNTRY_NAMES = {
    "UNITED KINGDOM": "GB", "UK": "GB", "GREAT BRITAIN": "GB", "ENGLAND": "GB", "SCOTLAND": "GB",
    "WALES": "GB", "NORTHERN IRELAND": "GB", "UNITED STATES": "US", "USA": "US",
    "UNITED STATES OF AMERICA": "US", "FRANCE": "FR", "GERMANY": "DE", "SPAIN": "ES",
    "ITALY": "IT", "IRELAND": "IE", "NETHERLANDS": "NL", "CANADA": "CA", "AUSTRALIA": "AU",
}  # fmt: skip


@dataclass(frozen=True)
class Decision:
    allowed: bool
    purpose: str
    reason: str  # granted | opt_out_default | no_consent | denied | withdrawn | expired | unknown


def region_of(traits: dict) -> str:
    """The consent region of a profile from its country trait: EU (EEA), a country code, or *."""
    address = traits.get("address") if isinstance(traits.get("address"), dict) else {}
    raw = traits.get("country") or address.get("country") or ""
    code = str(raw).strip().upper()
    code = COUNTRY_NAMES.get(code, code)
    if code in EEA:
        return "EU"
    return code if len(code) == 2 and code.isalpha() else "*"


def default_for(defaults: dict, region: str) -> str:
    return defaults.get(region) or defaults.get("*") or "opt_in"


def _parse(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def decide(
    *,
    consent: dict,
    purpose: str,
    purposes: dict[str, dict],
    region: str,
    now: datetime,
) -> Decision:
    """The decision for one purpose. `purposes`: slug -> {"defaults": {...}, "validity_days"}."""
    config = purposes.get(purpose)
    if config is None:
        return Decision(False, purpose, "unknown")
    entry = consent.get(purpose)
    if isinstance(entry, dict) and "granted" in entry:
        if entry.get("granted") is not True:
            return Decision(False, purpose, entry.get("status") or "denied")
        at = _parse(entry.get("at"))
        expires = _parse(entry.get("expires_at"))
        if expires is None and at is not None and config.get("validity_days"):
            expires = at + timedelta(days=config["validity_days"])
        if expires is not None and expires <= now:
            return Decision(False, purpose, "expired")
        if at is None:  # a grant we cannot date is not evidence of consent
            return Decision(False, purpose, "denied")
        return Decision(True, purpose, "granted")
    if default_for(config.get("defaults") or {}, region) == "opt_out":
        return Decision(True, purpose, "opt_out_default")
    return Decision(False, purpose, "no_consent")


def hash_value(value) -> str:
    """SHA-256 of the trimmed, lower-cased value, as ad platforms expect for matching."""
    return hashlib.sha256(str(value).strip().lower().encode()).hexdigest()


def fit_payload(
    payload: dict, *, field_purposes: dict[str, str], decisions: dict[str, Decision], policy: str
) -> tuple[dict, list[str]]:
    """The payload fit to send, and the names of the fields dropped or hashed."""
    out, changed = {}, []
    for key, value in payload.items():
        purpose = field_purposes.get(key)
        decision = decisions.get(purpose) if purpose else None
        if purpose is None or (decision is not None and decision.allowed):
            out[key] = value
            continue
        changed.append(key)
        if policy == "hash" and value not in (None, ""):
            out[key] = hash_value(value)
    return out, changed
