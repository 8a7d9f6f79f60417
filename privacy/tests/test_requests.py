"""Data-subject requests: access export, erasure that leaves nothing but a keyed hash."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from privacy.models import SuppressedCount, Suppression
from privacy.selectors import requests_overdue
from privacy.services.consent import consent_record
from privacy.services.requests import (
    RequestError,
    request_complete_access,
    request_complete_erasure,
    request_create,
)
from profiles.models import Event, Profile
from profiles.services.merges import profile_merge
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from segments.services import segment_create, segment_refresh
from tests.collect import send

pytestmark = pytest.mark.django_db
JANE = {
    "email": "jane.doe@example.com",
    "phone": "+447700900123",
    "user": "u-jane-77",
    "anon": "anon-jane-3",
    "crm": "CRM-JANE-9",
}


def janes_messages():
    now = timezone.now().isoformat()
    return [
        {"type": "page", "anonymousId": JANE["anon"], "name": "Home", "timestamp": now},
        {
            "type": "identify",
            "anonymousId": JANE["anon"],
            "userId": JANE["user"],
            "timestamp": now,
            "traits": {
                "email": " Jane.Doe@Example.com",
                "phone": "07700 900123",
                "firstName": "Jane",
            },
            "context": {"consent": {"categoryPreferences": {"email_marketing": True}}},
        },
        {
            "type": "track",
            "userId": JANE["user"],
            "event": "Order Completed",
            "timestamp": now,
            "properties": {"revenue": 30, "note": "for jane.doe@example.com"},
        },
        {"type": "track", "userId": JANE["user"], "timestamp": now},  # invalid: kept as failed
    ]


@pytest.fixture
def world(db):
    _, web = source_create(name="Web", kind="website")
    _, crm = source_create(name="CRM", kind="crm")
    send(web, *janes_messages())
    send(
        crm,
        {
            "type": "identify",
            "anonymousId": "crm-row-1",
            "timestamp": timezone.now().isoformat(),
            "traits": {"crm_id": JANE["crm"], "email": "j.doe@work.example"},
        },
        {
            "type": "identify",
            "userId": "u-other",
            "timestamp": timezone.now().isoformat(),
            "traits": {"email": "someone.else@example.com"},
        },
    )
    events_process_pending()
    jane = Profile.objects.get(identities__value=JANE["user"])
    crm_profile = Profile.objects.get(identities__value=JANE["crm"])
    profile_merge(survivor=jane, absorbed=crm_profile, reason="review")
    consent_record(profile=jane, purpose="sms", status="granted", channel="api")
    segment_refresh(
        segment=segment_create(
            name="Buyers",
            definition={
                "version": 1,
                "root": {
                    "id": "r",
                    "type": "group",
                    "op": "and",
                    "children": [{"id": "o", "type": "event", "event": "Order Completed"}],
                },
            },
        )
    )
    return {"web": web, "crm": crm, "jane": jane}


def test_access_exports_everything_about_the_person(world, make_user):
    request = request_create(
        kind="access",
        subject_type="phone",
        subject_value="+44 7700 900123",
        actor=make_user("admin"),
    )
    assert request.profile_id == world["jane"].pk
    assert request.due_at.date() == (request.requested_at + timedelta(days=30)).date()
    export = request_complete_access(request=request).export
    assert {i["value"] for i in export["identifiers"]} >= {
        JANE["email"],
        JANE["crm"],
        JANE["phone"],
    }
    assert len(export["events"]) == 5
    assert export["profile"]["traits"]["firstName"] == "Jane"
    assert [m["segment"] for m in export["segment_memberships"]] == ["Buyers"]
    assert {tuple(c["choices"]) for c in export["consent_history"]} == {
        ("email_marketing",),
        ("sms",),
    }
    assert request.status == "done"


def all_text_in_the_database() -> str:
    """Every text and JSON value of every table, as one string."""
    chunks = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'jsonb', 'json')"
        )
        for table, column in cursor.fetchall():
            cursor.execute(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks).lower()


def test_erasure_leaves_nothing_but_a_hash_and_re_sent_data_is_dropped(world):
    request = request_create(
        kind="erasure",
        subject_type="email",
        subject_value="jane.doe@example.com",
        regulation="ccpa",
    )
    assert request.due_at.date() == (request.requested_at + timedelta(days=45)).date()
    request_complete_erasure(request=request)
    text = all_text_in_the_database()
    for value in JANE.values():
        assert value.lower() not in text, value
    assert "j.doe@work.example" not in text
    assert "someone.else@example.com" in text  # other people are untouched
    assert Suppression.objects.count() >= 6
    assert all(len(s.digest) == 64 for s in Suppression.objects.all())

    before = Event.objects.count()
    result = send(world["web"], *janes_messages()[:3])
    assert (result.accepted, result.suppressed) == (0, 3)
    assert Event.objects.count() == before
    assert SuppressedCount.objects.get().count == 3
    assert JANE["email"] not in all_text_in_the_database()


def test_requests_past_their_deadline_are_overdue(world):
    request = request_create(kind="access", subject_type="user_id", subject_value="nobody")
    assert request.profile is None
    assert list(requests_overdue()) == []
    type(request).objects.filter(pk=request.pk).update(due_at=timezone.now() - timedelta(days=1))
    assert list(requests_overdue()) == [request]


def test_bad_requests_are_refused_clearly(world):
    with pytest.raises(RequestError, match="That email cannot be used: not an email address"):
        request_create(kind="access", subject_type="email", subject_value="not-an-email")
    with pytest.raises(RequestError, match="Find people by one of"):
        request_create(kind="access", subject_type="shoe_size", subject_value="9")
