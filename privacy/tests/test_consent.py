"""Consent decisions from every channel, merged profiles, enforcement at send time, audit."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from activations.models import Destination
from cdpapp.models import AuditEntry
from privacy.services.consent import ConsentError, consent_history, consent_record
from privacy.services.enforcement import send_decision
from profiles.models import Profile
from profiles.services.merges import profile_merge, profile_unmerge
from profiles.services.sources import source_create
from tests.collect import send_and_process

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db):
    _, key = source_create(name="Web", kind="website")
    earlier = (timezone.now() - timedelta(days=2)).isoformat()
    send_and_process(
        key,
        {
            "type": "identify",
            "userId": "eu-ann",
            "timestamp": earlier,
            "traits": {"email": "ann@example.org", "phone": "+33612345678", "country": "FR"},
            "context": {"consent": {"categoryPreferences": {"email_marketing": True}}},
        },
        {
            "type": "identify",
            "userId": "us-bob",
            "timestamp": earlier,
            "traits": {"email": "bob@example.org", "country": "US"},
        },
    )
    return {
        "ann": Profile.objects.get(identities__value="eu-ann"),
        "bob": Profile.objects.get(identities__value="us-bob"),
    }


@pytest.fixture
def email_tool(db):
    return Destination.objects.create(
        name="Email tool",
        kind="email",
        purpose="email_marketing",
        field_purposes={"phone": "sms"},
        pii_policy="drop",
    )


PAYLOAD = {"email": "x@example.org", "phone": "+33612345678", "first_name": "Ann", "ltv": 10}


def test_collected_consent_allows_and_other_pii_is_dropped(people, email_tool):
    decision = send_decision(profile=people["ann"], destination=email_tool, payload=PAYLOAD)
    assert decision.allowed and decision.reason == "granted"
    assert decision.payload == {"email": "x@example.org", "first_name": "Ann", "ltv": 10}
    assert decision.withheld_fields == ["phone"]


def test_opt_out_region_allows_without_a_decision_until_refused(people, email_tool):
    assert send_decision(profile=people["bob"], destination=email_tool, payload={}).reason == (
        "opt_out_default"
    )
    consent_record(
        profile=people["bob"],
        purpose="email_marketing",
        status="withdrawn",
        channel="preference_centre",
    )
    decision = send_decision(
        profile=Profile.objects.get(pk=people["bob"].pk), destination=email_tool, payload=PAYLOAD
    )
    assert (decision.allowed, decision.reason, decision.payload) == (False, "withdrawn", {})


def test_expired_grant_is_refused(people, email_tool):
    consent_record(
        profile=people["ann"],
        purpose="email_marketing",
        status="granted",
        channel="api",
        expires_at=timezone.now() + timedelta(days=1),
    )
    ann = Profile.objects.get(pk=people["ann"].pk)
    later = timezone.now() + timedelta(days=2)
    decision = send_decision(profile=ann, destination=email_tool, payload={}, now=later)
    assert (decision.allowed, decision.reason) == (False, "expired")


def test_history_keeps_every_decision_with_evidence_and_audit(people, make_user):
    admin = make_user("admin")
    consent_record(
        profile=people["ann"],
        purpose="sms",
        status="granted",
        channel="admin",
        legal_basis="consent",
        evidence={"proof": "signed form 12"},
        actor=admin,
    )
    consent_record(profile=people["ann"], purpose="sms", status="denied", channel="api")
    history = list(consent_history(people["ann"]))
    assert [e.consent for e in history] == [
        {"sms": False},
        {"sms": True},
        {"email_marketing": True},
    ]
    assert history[1].properties["evidence"]["proof"] == "signed form 12"
    assert history[1].properties["evidence"]["purpose_version"] == 1
    assert Profile.objects.get(pk=people["ann"].pk).consent["sms"]["status"] == "denied"
    entry = AuditEntry.objects.filter(action="consent.changed").order_by("id").first()
    assert entry.actor_name == admin.username
    assert entry.after["sms"]["granted"] is True


def test_bad_decisions_are_refused_clearly(people):
    with pytest.raises(ConsentError, match="Unknown purpose 'telepathy'"):
        consent_record(profile=people["ann"], purpose="telepathy", status="granted", channel="api")
    with pytest.raises(ConsentError, match="Status must be one of"):
        consent_record(profile=people["ann"], purpose="sms", status="maybe", channel="api")


def test_merge_keeps_the_most_recent_decision_and_unmerge_gives_each_its_own(people):
    consent_record(profile=people["bob"], purpose="email_marketing", status="denied", channel="api")
    entry = profile_merge(survivor=people["ann"], absorbed=people["bob"], reason="review")
    merged = Profile.objects.get(pk=entry.survivor_id)
    assert merged.consent["email_marketing"]["granted"] is False  # bob's decision is newer
    profile_unmerge(entry=entry)
    assert Profile.objects.get(pk=people["ann"].pk).consent["email_marketing"]["granted"] is True
    bob = Profile.objects.get(pk=people["bob"].pk)
    assert bob.consent["email_marketing"]["status"] == "denied"


def test_the_audit_log_is_append_only(people):
    consent_record(profile=people["ann"], purpose="sms", status="granted", channel="api")
    entry = AuditEntry.objects.latest("id")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="tampered")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        entry.delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT action FROM cdpapp_auditentry WHERE id = %s", [entry.pk])
        assert cursor.fetchone() == ("consent.changed",)
