"""The processor: events become profiles; merges are recorded and reversible."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from profiles.models import Event, Identity, MatchCandidate, MergeEntry, Profile
from profiles.services.merges import MergeError, profile_merge, profile_unmerge
from profiles.services.processing import events_process_batch, events_process_pending
from profiles.services.sources import source_create
from tests.collect import send, send_and_process

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat()


def identities_of(profile: Profile) -> set[tuple[str, str]]:
    return set(profile.identities.values_list("id_type", "value"))


@pytest.fixture
def keys(db):
    return {
        kind: source_create(name=kind.title(), kind=kind)[1] for kind in ("website", "pos", "crm")
    }


@pytest.fixture
def jane(keys):
    """Anonymous browsing, then identify, then a POS order with the phone written differently."""
    send(
        keys["website"],
        {"type": "page", "anonymousId": "anon-1", "name": "Home", "timestamp": at(0)},
        {"type": "track", "anonymousId": "anon-1", "event": "Product Viewed", "timestamp": at(1)},
        {
            "type": "identify",
            "anonymousId": "anon-1",
            "userId": "u-jane",
            "traits": {
                "email": "  Jane.Doe@Example.com ",
                "phone": "07700 900123",
                "firstName": "Jane",
            },
            "timestamp": at(2),
        },
    )
    send(
        keys["pos"],
        {
            "type": "track",
            "userId": None,
            "anonymousId": "pos-receipt-77",
            "event": "Order Completed",
            "properties": {"revenue": 42.5},
            "context": {"traits": {"phone": "+44 (0)7700-900-123"}},
            "timestamp": at(60),
        },
    )
    events_process_pending()


def test_one_person_across_sources_becomes_one_profile(jane):
    profile = Profile.objects.get(identities__id_type="user_id", identities__value="u-jane")
    assert identities_of(profile) == {
        ("anonymous_id", "anon-1"),
        ("user_id", "u-jane"),
        ("email", "jane.doe@example.com"),
        ("phone", "+447700900123"),
        ("anonymous_id", "pos-receipt-77"),
    }
    assert profile.events.count() == 4
    assert Event.objects.filter(profile__isnull=True).count() == 0
    assert profile.traits["firstName"] == "Jane"
    assert profile.trait_lineage["firstName"]["event"] is not None
    assert profile.computed["order_count"] == 1
    assert float(profile.computed["lifetime_value"]) == 42.5
    assert profile.first_seen == T0
    assert Profile.objects.filter(merged_into__isnull=True).count() == 1


def test_pos_record_arriving_first_is_merged_when_the_phone_links(keys):
    send(
        keys["pos"],
        {
            "type": "track",
            "anonymousId": "r-1",
            "event": "Order Completed",
            "context": {"traits": {"phone": "07700900999"}},
            "timestamp": at(0),
        },
    )
    send(
        keys["website"],
        {"type": "identify", "userId": "u-9", "anonymousId": "w-1", "timestamp": at(3)},
    )
    events_process_pending()
    assert Profile.objects.count() == 2
    send_and_process(
        keys["website"],
        {
            "type": "identify",
            "userId": "u-9",
            "traits": {"phone": "+44 7700 900999"},
            "timestamp": at(5),
        },
    )
    active = Profile.objects.filter(merged_into__isnull=True)
    assert active.count() == 1
    assert active.get().events.count() == 3
    entry = MergeEntry.objects.get(kind="merge")
    # The older (POS) profile survives; the web profile joined it through its user id.
    assert (entry.reason, entry.id_type, entry.id_value) == ("shared_identifier", "user_id", "u-9")
    assert entry.survivor_id < entry.absorbed_id


def test_review_merge_then_undo_restores_both_profiles_intact(jane, keys):
    send_and_process(
        keys["crm"],
        {
            "type": "identify",
            "userId": None,
            "anonymousId": "crm-row-1",
            "traits": {
                "crm_id": "C-1",
                "email": "jane.d@work.example",
                "firstName": "Jnae",
                "lastName": "Doe",
            },
            "timestamp": at(120),
        },
    )
    jane_profile = Profile.objects.get(identities__value="u-jane")
    crm_profile = Profile.objects.get(identities__value="C-1")
    assert jane_profile.pk != crm_profile.pk
    before_jane = (
        identities_of(jane_profile),
        set(jane_profile.events.values_list("id", flat=True)),
    )
    before_crm = (identities_of(crm_profile), set(crm_profile.events.values_list("id", flat=True)))

    entry = profile_merge(survivor=jane_profile, absorbed=crm_profile, reason="review")
    merged = Profile.objects.get(pk=jane_profile.pk)
    assert identities_of(merged) == before_jane[0] | before_crm[0]
    assert merged.events.count() == 5
    assert merged.traits["lastName"] == "Doe"
    assert merged.traits["firstName"] == "Jnae"  # most recent wins by default

    profile_unmerge(entry=MergeEntry.objects.get(pk=entry.pk))
    jane_after = Profile.objects.get(pk=jane_profile.pk)
    crm_after = Profile.objects.get(pk=crm_profile.pk)
    assert crm_after.merged_into_id is None
    assert identities_of(jane_after) == before_jane[0]
    assert set(jane_after.events.values_list("id", flat=True)) == before_jane[1]
    assert identities_of(crm_after) == before_crm[0]
    assert set(crm_after.events.values_list("id", flat=True)) == before_crm[1]
    assert jane_after.traits["firstName"] == "Jane"
    assert "lastName" not in jane_after.traits
    assert crm_after.traits["firstName"] == "Jnae"
    assert MergeEntry.objects.get(pk=entry.pk).undone_by.kind == "unmerge"
    with pytest.raises(MergeError, match="already undone"):
        profile_unmerge(entry=MergeEntry.objects.get(pk=entry.pk))


def test_undo_of_an_automatic_merge_keeps_later_events_with_their_person(keys):
    send(
        keys["website"],
        {
            "type": "identify",
            "anonymousId": "a-1",
            "traits": {"email": "x@y.example"},
            "timestamp": at(0),
        },
    )
    send(
        keys["pos"],
        {
            "type": "identify",
            "anonymousId": "r-2",
            "traits": {"phone": "07700900555"},
            "timestamp": at(1),
        },
    )
    events_process_pending()
    send_and_process(
        keys["website"],
        {
            "type": "identify",
            "anonymousId": "a-1",
            "traits": {"email": "x@y.example", "phone": "07700900555"},
            "timestamp": at(2),
        },
    )
    assert Profile.objects.filter(merged_into__isnull=True).count() == 1
    # After the merge, the POS person comes back with their phone only.
    send_and_process(
        keys["pos"],
        {"type": "track", "anonymousId": "r-2", "event": "Order Completed", "timestamp": at(3)},
    )
    entry = MergeEntry.objects.get(kind="merge")
    profile_unmerge(entry=entry)
    pos_person = Profile.objects.get(identities__value="r-2")
    assert set(pos_person.events.values_list("name", flat=True)) == {None, "Order Completed"}
    web_person = Profile.objects.get(identities__value="a-1")
    assert web_person.pk != pos_person.pk
    assert web_person.events.count() == 2


def test_a_second_user_id_on_a_shared_device_is_not_merged(jane, keys):
    send_and_process(
        keys["website"],
        {
            "type": "identify",
            "anonymousId": "anon-1",
            "userId": "u-john",
            "traits": {"firstName": "John"},
            "timestamp": at(200),
        },
    )
    john = Profile.objects.get(identities__value="u-john")
    jane_profile = Profile.objects.get(identities__value="u-jane")
    assert john.pk != jane_profile.pk
    assert ("anonymous_id", "anon-1") in identities_of(jane_profile)
    assert ("anonymous_id", "anon-1") not in identities_of(john)
    drop = MergeEntry.objects.get(kind="drop")
    assert (drop.id_type, drop.id_value, drop.reason) == (
        "anonymous_id",
        "anon-1",
        "would_merge_conflicting_profiles",
    )
    assert drop.rule == "max user_id per profile"
    candidate = MatchCandidate.objects.get()
    assert {candidate.profile_a_id, candidate.profile_b_id} == {john.pk, jane_profile.pk}
    assert candidate.reason == "verified_user_id_conflict"


def test_junk_identifiers_are_never_resolved_on(keys):
    send_and_process(
        keys["website"],
        {
            "type": "identify",
            "userId": "null",
            "anonymousId": "a-5",
            "traits": {"email": "test@example.com"},
            "timestamp": at(0),
        },
        {
            "type": "identify",
            "userId": "anonymous",
            "anonymousId": "a-6",
            "traits": {"email": "test@example.com"},
            "timestamp": at(1),
        },
    )
    assert Profile.objects.count() == 2
    assert not Identity.objects.filter(value__in=["null", "anonymous", "test@example.com"]).exists()
    with connection.cursor() as cursor:
        cursor.execute("SELECT id_type, value, count FROM profiles_junkidentifier ORDER BY 1, 2")
        assert cursor.fetchall() == [
            ("email", "test@example.com", 2),
            ("user_id", "anonymous", 1),
            ("user_id", "null", 1),
        ]


def test_an_unusable_identifier_value_is_recorded_on_the_profile_not_ignored(keys):
    send_and_process(
        keys["website"],
        {
            "type": "identify",
            "anonymousId": "a-7",
            "traits": {"email": "jane at example dot com", "phone": "12", "firstName": "Jane"},
            "timestamp": at(0),
        },
    )
    profile = Profile.objects.get()
    assert identities_of(profile) == {("anonymous_id", "a-7")}
    assert profile.traits["email"] == "jane at example dot com"  # the trait itself is kept
    drops = {
        (e.id_type, e.id_value, e.reason, e.rule)
        for e in MergeEntry.objects.filter(kind=MergeEntry.Kind.DROP, survivor=profile)
    }
    assert drops == {
        ("email", "jane at example dot com", "invalid_value", "not an email address"),
        ("phone", "12", "invalid_value", "not a possible phone number"),
    }
    assert all(e.event_id for e in MergeEntry.objects.filter(survivor=profile))


def test_consent_from_collection_is_applied_most_recent_first(keys):
    send_and_process(
        keys["website"],
        {
            "type": "identify",
            "userId": "u-c",
            "timestamp": at(5),
            "context": {"consent": {"categoryPreferences": {"email_marketing": False}}},
        },
        {
            "type": "identify",
            "userId": "u-c",
            "timestamp": at(1),
            "context": {"consent": {"categoryPreferences": {"email_marketing": True, "sms": True}}},
        },
    )
    consent = Profile.objects.get().consent
    assert consent["email_marketing"]["granted"] is False
    assert consent["sms"]["granted"] is True


def test_reprocessing_changes_nothing(jane):
    profile = Profile.objects.get(identities__value="u-jane")
    snapshot = (profile.traits, identities_of(profile), Profile.objects.count())
    assert events_process_batch().events == 0
    Event.objects.update(processed_at=None)
    events_process_pending()
    again = Profile.objects.get(pk=profile.pk)
    assert (again.traits, identities_of(again), Profile.objects.count()) == snapshot
    assert MergeEntry.objects.filter(kind="merge").count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_split_a_person(keys):
    people = 40
    for n in range(people):
        # Each person's identifiers are spread over events that different workers will take.
        send(
            keys["website"],
            {"type": "page", "anonymousId": f"anon-{n}", "timestamp": at(n)},
            {
                "type": "identify",
                "anonymousId": f"anon-{n}",
                "userId": f"user-{n}",
                "traits": {"email": f"p{n}@example.org"},
                "timestamp": at(n + 1),
            },
        )
        send(
            keys["pos"],
            {
                "type": "identify",
                "anonymousId": f"r-{n}",
                "traits": {"email": f"P{n}@Example.org"},
                "timestamp": at(n + 2),
            },
        )
    errors = []

    def worker():
        try:
            while events_process_batch(limit=7).events:
                pass
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert Event.objects.filter(processed_at__isnull=True).count() == 0
    assert Profile.objects.filter(merged_into__isnull=True).count() == people
    for n in range(people):
        owners = set(
            Identity.objects.filter(
                value__in=[f"anon-{n}", f"user-{n}", f"p{n}@example.org", f"r-{n}"]
            ).values_list("profile_id", flat=True)
        )
        assert len(owners) == 1, n


def test_made_up_anonymous_ids_of_file_rows_are_not_identifiers(keys):
    send_and_process(
        keys["crm"],
        {
            "type": "identify",
            "anonymousId": "file-row-id-1",
            "traits": {"email": "row@example.org"},
            "context": {
                "csvImport": {"sha256": "abc", "row": 1},
                "externalIds": [{"id": "row@example.org", "type": "email"}],
            },
            "timestamp": at(0),
        },
    )
    profile = Profile.objects.get()
    assert identities_of(profile) == {("email", "row@example.org")}
