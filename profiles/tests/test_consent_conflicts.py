"""The pure decision: do two profiles' consent histories conflict when they merge?"""

from datetime import UTC, datetime, timedelta

import pytest

from profiles.domain.consent_conflicts import (
    choice_of,
    conflict_reason,
    consent_conflicts,
)
from profiles.domain.survivorship import combine_consent

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WINDOW = timedelta(days=30)


def decision(granted: bool, days_ago: float, **extra) -> dict:
    at = NOW - timedelta(days=days_ago)
    return {"granted": granted, "at": at.isoformat(), "source": 1, "event": 7, **extra}


def test_a_recent_grant_against_a_recent_refusal_conflicts():
    a = {"email_marketing": decision(True, 3)}
    b = {"email_marketing": decision(False, 10, status="withdrawn")}
    [conflict] = consent_conflicts(a, b, now=NOW, window=WINDOW)
    assert conflict.purpose == "email_marketing"
    assert (conflict.a.status, conflict.b.status) == ("granted", "withdrawn")
    assert conflict.a.at == NOW - timedelta(days=3)
    assert conflict.in_force == "a"  # the grant is the more recent decision
    assert conflict.b.as_dict()["status"] == "withdrawn"


def test_the_same_answer_is_no_conflict():
    a = {"sms": decision(True, 1)}
    b = {"sms": decision(True, 2)}
    assert consent_conflicts(a, b, now=NOW, window=WINDOW) == []


def test_an_old_decision_is_a_change_of_mind_not_a_conflict():
    a = {"sms": decision(True, 2)}
    b = {"sms": decision(False, 45)}
    assert consent_conflicts(a, b, now=NOW, window=WINDOW) == []
    assert consent_conflicts(a, b, now=NOW, window=timedelta(days=60)) != []


def test_the_window_includes_its_edge():
    a = {"sms": decision(True, 30)}
    b = {"sms": decision(False, 0)}
    assert len(consent_conflicts(a, b, now=NOW, window=WINDOW)) == 1


def test_purposes_decided_by_one_profile_only_never_conflict():
    a = {"sms": decision(True, 1)}
    b = {"advertising": decision(False, 1)}
    assert consent_conflicts(a, b, now=NOW, window=WINDOW) == []
    assert consent_conflicts({}, b, now=NOW, window=WINDOW) == []


def test_an_expired_grant_conflicts_with_nothing():
    a = {"sms": decision(True, 5, expires_at=(NOW - timedelta(days=1)).isoformat())}
    b = {"sms": decision(False, 2)}
    assert choice_of(a["sms"], now=NOW).status == "expired"
    assert consent_conflicts(a, b, now=NOW, window=WINDOW) == []
    still_valid = {"sms": decision(True, 5, expires_at=(NOW + timedelta(days=9)).isoformat())}
    assert len(consent_conflicts(still_valid, b, now=NOW, window=WINDOW)) == 1


def test_several_purposes_are_reported_in_name_order_and_named_in_the_reason():
    a = {"sms": decision(False, 1), "email_marketing": decision(True, 1), "push": decision(True, 1)}
    b = {"sms": decision(True, 2), "email_marketing": decision(False, 4), "push": decision(True, 1)}
    conflicts = consent_conflicts(a, b, now=NOW, window=WINDOW)
    assert [c.purpose for c in conflicts] == ["email_marketing", "sms"]
    assert conflict_reason(conflicts) == "consent conflict on email_marketing, sms"


@pytest.mark.parametrize(
    "broken", [None, "yes", {}, {"granted": True}, {"granted": True, "at": "not a time"}]
)
def test_unreadable_decisions_are_ignored(broken):
    a = {"sms": broken}
    b = {"sms": decision(False, 1)}
    assert consent_conflicts(a, b, now=NOW, window=WINDOW) == []


def test_a_time_without_zone_is_read_as_utc():
    a = {"sms": {"granted": True, "at": "2026-11-29T12:00:00"}}
    b = {"sms": decision(False, 2)}
    [conflict] = consent_conflicts(a, b, now=NOW, window=WINDOW)
    assert conflict.a.at == datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_the_decision_in_force_after_the_merge_is_the_most_recent_one():
    a = {"email_marketing": decision(True, 9)}
    b = {"email_marketing": decision(False, 2, status="denied")}
    [conflict] = consent_conflicts(a, b, now=NOW, window=WINDOW)
    assert conflict.in_force == "b"
    merged = combine_consent(a, b)
    assert merged["email_marketing"]["granted"] is False
    assert combine_consent(b, a)["email_marketing"]["granted"] is False
