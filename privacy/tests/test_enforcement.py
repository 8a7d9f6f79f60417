"""The enforcement service never allows a send without valid consent, nor a PII field whose
purpose lacks consent, across random profiles, histories, regions, purposes and times."""

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from privacy.domain.enforcement import decide, fit_payload, hash_value, region_of

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
PURPOSES = {
    "email_marketing": {"defaults": {"EU": "opt_in", "US": "opt_out", "*": "opt_in"}},
    "sms": {"defaults": {"*": "opt_in"}, "validity_days": 365},
    "analytics": {"defaults": {"EU": "opt_in", "*": "opt_out"}},
}
COUNTRIES = ["FR", "DE", "GB", "US", "United Kingdom", "usa", "", "ZZ", None]


def fold(history: list[dict]) -> dict:
    """The current state from a history: the most recent decision per purpose wins."""
    state: dict = {}
    for item in sorted(history, key=lambda h: h["at"]):
        state[item["purpose"]] = item
    return state


def valid_consent(history, purpose, region, now) -> bool:
    """The rule, written independently: a latest decision that is a grant and not expired, or no
    decision at all in a region where the purpose is opt-out."""
    config = PURPOSES.get(purpose)
    if config is None:
        return False
    latest = [h for h in history if h["purpose"] == purpose]
    if not latest:
        defaults = config["defaults"]
        return (defaults.get(region) or defaults.get("*")) == "opt_out"
    last = max(latest, key=lambda h: h["at"])
    if not last["granted"]:
        return False
    at = datetime.fromisoformat(last["at"])
    expiry = last.get("expires_at")
    if expiry is None and config.get("validity_days"):
        expiry = (at + timedelta(days=config["validity_days"])).isoformat()
    return expiry is None or datetime.fromisoformat(expiry) > now


decision_st = st.fixed_dictionaries(
    {
        "purpose": st.sampled_from([*PURPOSES, "push"]),
        "granted": st.booleans(),
        "at": st.integers(0, 800).map(lambda d: (NOW - timedelta(days=d)).isoformat()),
    },
    optional={
        "expires_at": st.integers(-30, 30).map(lambda d: (NOW + timedelta(days=d)).isoformat())
    },
)


@settings(max_examples=500)
@given(
    history=st.lists(decision_st, max_size=8, unique_by=lambda h: (h["purpose"], h["at"])),
    country=st.sampled_from(COUNTRIES),
    purpose=st.sampled_from([*PURPOSES, "push", "unknown"]),
    hours=st.integers(-100, 100),
)
def test_never_allows_a_send_without_valid_consent(history, country, purpose, hours):
    now = NOW + timedelta(hours=hours)
    region = region_of({"country": country} if country is not None else {})
    decision = decide(
        consent=fold(history), purpose=purpose, purposes=PURPOSES, region=region, now=now
    )
    assert decision.allowed == valid_consent(history, purpose, region, now), decision


@settings(max_examples=500)
@given(
    history=st.lists(decision_st, max_size=8, unique_by=lambda h: (h["purpose"], h["at"])),
    country=st.sampled_from(COUNTRIES),
    policy=st.sampled_from(["drop", "hash"]),
    email=st.emails(),
    phone=st.from_regex(r"\+44 ?7700 ?9\d{5}", fullmatch=True),
)
def test_never_lets_a_pii_field_through_without_its_purpose(history, country, policy, email, phone):
    region = region_of({"country": country} if country is not None else {})
    field_purposes = {"email": "email_marketing", "phone": "sms", "first_name": "email_marketing"}
    decisions = {
        p: decide(consent=fold(history), purpose=p, purposes=PURPOSES, region=region, now=NOW)
        for p in set(field_purposes.values())
    }
    payload = {"email": email, "phone": phone, "first_name": "Jane", "ltv": 120}
    fitted, changed = fit_payload(
        payload, field_purposes=field_purposes, decisions=decisions, policy=policy
    )
    assert fitted["ltv"] == 120
    for field, purpose in field_purposes.items():
        if valid_consent(history, purpose, region, NOW):
            assert fitted[field] == payload[field]
        else:
            assert field in changed
            assert payload[field] not in fitted.values()
            if policy == "hash":
                assert fitted[field] == hash_value(payload[field])
            else:
                assert field not in fitted


def test_regions():
    assert region_of({"country": "fr"}) == "EU"
    assert region_of({"address": {"country": "United Kingdom"}}) == "GB"
    assert region_of({"country": "USA"}) == "US"
    assert region_of({}) == "*"
    assert region_of({"country": "Narnia"}) == "*"


def test_reasons():
    consent = {"sms": {"granted": True, "at": (NOW - timedelta(days=400)).isoformat()}}
    assert (
        decide(consent=consent, purpose="sms", purposes=PURPOSES, region="GB", now=NOW).reason
        == "expired"
    )
    assert (
        decide(consent={}, purpose="analytics", purposes=PURPOSES, region="US", now=NOW).reason
        == "opt_out_default"
    )
    assert (
        decide(consent={}, purpose="analytics", purposes=PURPOSES, region="EU", now=NOW).reason
        == "no_consent"
    )
    withdrawn = {"sms": {"granted": False, "status": "withdrawn", "at": NOW.isoformat()}}
    assert (
        decide(consent=withdrawn, purpose="sms", purposes=PURPOSES, region="GB", now=NOW).reason
        == "withdrawn"
    )
