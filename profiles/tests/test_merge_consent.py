"""Consent at merge time: the most recent decision per purpose wins, conflicting recent decisions
are recorded with the merge, and the merge settings can send conflicting pairs to review."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cdpapp.models import AuditEntry
from privacy.models import ConsentConflict
from privacy.services.consent import consent_record
from profiles.models import Event, MatchCandidate, MergeEntry, MergeSettings, Profile, RuleChange
from profiles.selectors.merge_settings import merge_settings_get
from profiles.services.identity_rules import merge_settings_update
from profiles.services.matching import match_candidate_approve, matching_run
from profiles.services.merges import profile_merge, profile_unmerge
from profiles.services.processing import events_process_batch, events_process_pending
from profiles.services.sources import source_create
from profiles.tests.matching_helpers import crowd, identify, person, process, profile_with, sources
from tests.collect import send

pytestmark = pytest.mark.django_db


def ago(days: float):
    return timezone.now() - timedelta(days=days)


def decide(profile: Profile, purpose: str, status: str, days_ago: float) -> None:
    consent_record(profile=profile, purpose=purpose, status=status, channel="api", at=ago(days_ago))


@pytest.fixture
def web(db) -> str:
    return source_create(name="Web", kind="website")[1]


@pytest.fixture
def visitor_and_customer(web) -> tuple[Profile, Profile]:
    """An anonymous visitor who granted email marketing on the cookie banner 3 days ago, and a
    known customer who withdrew it 5 days ago; they are not linked yet."""
    send(
        web,
        {"type": "page", "anonymousId": "anon-a", "name": "Home", "timestamp": ago(9).isoformat()},
    )
    send(
        web,
        {
            "type": "identify",
            "userId": "u-b",
            "traits": {"email": "b@example.org"},
            "timestamp": ago(8).isoformat(),
        },
    )
    events_process_pending()
    visitor = Profile.objects.get(identities__value="anon-a")
    customer = Profile.objects.get(identities__value="u-b")
    decide(visitor, "email_marketing", "granted", 3)
    decide(customer, "email_marketing", "withdrawn", 5)
    decide(visitor, "sms", "denied", 60)  # long ago: a change of mind, not a conflict
    decide(customer, "sms", "granted", 2)
    return visitor, customer


def link(web: str, **extra) -> dict:
    """The visitor logs in as the customer."""
    return {
        "type": "identify",
        "anonymousId": "anon-a",
        "userId": "u-b",
        "timestamp": timezone.now().isoformat(),
        **extra,
    }


def test_a_processor_merge_keeps_the_most_recent_decision_and_records_the_conflict(
    web, visitor_and_customer
):
    visitor, customer = visitor_and_customer
    send(web, link(web))
    result = events_process_batch()
    assert result.merges == 1 and result.reviews == 0
    entry = MergeEntry.objects.get(kind="merge")
    assert (entry.survivor_id, entry.absorbed_id) == (visitor.pk, customer.pk)
    merged = Profile.objects.get(pk=visitor.pk)
    assert merged.consent["email_marketing"]["granted"] is True  # granted 3 days ago, the latest
    assert merged.consent["email_marketing"]["status"] == "granted"
    assert merged.consent["sms"]["granted"] is True  # granted 2 days ago beats denied 60 days ago

    conflict = ConsentConflict.objects.get()
    assert (conflict.merge_id, conflict.profile_id, conflict.absorbed_id) == (
        entry.pk,
        visitor.pk,
        customer.pk,
    )
    assert conflict.purpose == "email_marketing"
    assert conflict.survivor_decision["status"] == "granted"
    assert conflict.absorbed_decision["status"] == "withdrawn"
    assert conflict.survivor_decided_at > conflict.absorbed_decided_at
    assert conflict.kept == "survivor"
    assert conflict.status == ConsentConflict.Status.OPEN


def test_decisions_older_than_the_window_are_not_a_conflict(web, visitor_and_customer, settings):
    settings.CONSENT_CONFLICT_WINDOW_DAYS = 4  # the withdrawal, 5 days ago, is outside
    send(web, link(web))
    assert events_process_batch().merges == 1
    assert not ConsentConflict.objects.exists()


def test_review_on_sends_the_pair_to_review_and_keeps_every_event(web, visitor_and_customer):
    visitor, customer = visitor_and_customer
    merge_settings_update(consent_conflict_review=True)
    send(web, link(web, messageId="login-1"), link(web, messageId="login-2"))
    result = events_process_batch()
    assert result.merges == 0 and result.reviews == 1
    assert not MergeEntry.objects.filter(kind="merge").exists()
    assert Profile.objects.filter(merged_into__isnull=False).count() == 0

    candidate = MatchCandidate.objects.get()
    assert (candidate.profile_a_id, candidate.profile_b_id) == (visitor.pk, customer.pk)
    assert candidate.status == MatchCandidate.Status.PENDING
    assert candidate.reason == "consent_conflict"
    assert candidate.explanation["conflict"] == "consent conflict on email_marketing"
    [detail] = candidate.explanation["consent"]
    assert detail["profile_a"]["status"] == "granted"
    assert detail["profile_b"]["status"] == "withdrawn"
    # The logins land on the profile of their highest-priority identifier (the user id), and
    # the visitor keeps its anonymous id.
    logins = Event.objects.filter(message_id__startswith="login-")
    assert set(logins.values_list("profile_id", flat=True)) == {customer.pk}
    assert not Event.objects.filter(profile__isnull=True).exists()
    assert set(Profile.objects.get(pk=visitor.pk).identities.values_list("value", flat=True)) == {
        "anon-a"
    }

    assert not ConsentConflict.objects.exists()
    approved = match_candidate_approve(candidate=candidate, user=None)
    assert approved.status == MatchCandidate.Status.APPROVED
    entry = MergeEntry.objects.get(kind="merge")
    assert entry.reason == "review"
    conflict = ConsentConflict.objects.get()
    assert (conflict.merge_id, conflict.purpose) == (entry.pk, "email_marketing")


def test_review_on_still_merges_profiles_that_agree(web, visitor_and_customer):
    customer = visitor_and_customer[1]
    decide(customer, "email_marketing", "granted", 1)
    merge_settings_update(consent_conflict_review=True)
    send(web, link(web))
    result = events_process_batch()
    assert result.merges == 1 and result.reviews == 0
    assert not MatchCandidate.objects.exists()


def test_a_profile_linked_through_an_identifier_new_in_the_batch_is_checked_too(
    web, visitor_and_customer
):
    visitor, customer = visitor_and_customer
    merge_settings_update(consent_conflict_review=True)
    now = timezone.now()
    send(
        web,
        {
            "type": "identify",
            "anonymousId": "anon-a",
            "traits": {"email": "new@example.org"},
            "timestamp": now.isoformat(),
            "messageId": "first",
        },
        {
            "type": "identify",
            "userId": "u-b",
            "traits": {"email": "new@example.org"},
            "timestamp": (now + timedelta(seconds=1)).isoformat(),
            "messageId": "second",
        },
    )
    result = events_process_batch()
    assert result.merges == 0 and result.reviews == 1
    assert Event.objects.get(message_id="first").profile_id == visitor.pk
    assert Event.objects.get(message_id="second").profile_id == customer.pk
    assert Profile.objects.get(identities__value="new@example.org") == visitor


def test_a_manual_merge_records_the_conflict_and_its_audit_names_it(visitor_and_customer):
    visitor, customer = visitor_and_customer
    entry = profile_merge(survivor=customer, absorbed=visitor, reason="manual")
    assert entry.survivor_id == visitor.pk  # the older profile survives
    conflict = ConsentConflict.objects.get()
    assert conflict.merge == entry and conflict.profile_id == visitor.pk
    audit = AuditEntry.objects.get(action="profile.merged")
    assert audit.after["consent_conflicts"] == ["email_marketing"]
    assert Profile.objects.get(pk=visitor.pk).consent["email_marketing"]["granted"] is True


def test_undoing_the_merge_closes_its_conflicts_and_each_profile_has_its_own_consent(
    visitor_and_customer, make_user
):
    visitor, customer = visitor_and_customer
    entry = profile_merge(survivor=visitor, absorbed=customer, reason="manual")
    admin = make_user("admin")
    profile_unmerge(entry=entry, actor=admin)
    conflict = ConsentConflict.objects.get()
    assert conflict.status == ConsentConflict.Status.RESOLVED
    assert conflict.resolved_by == admin and "undone" in conflict.resolution
    audit = AuditEntry.objects.get(action="profile.unmerged")
    assert audit.after["consent_conflicts_closed"] == 1
    assert Profile.objects.get(pk=customer.pk).consent["email_marketing"]["status"] == "withdrawn"
    assert Profile.objects.get(pk=visitor.pk).consent["email_marketing"]["status"] == "granted"


def test_merge_settings_default_to_merging_and_changes_are_recorded(make_user):
    assert merge_settings_get().consent_conflict_review is False
    admin = make_user("admin")
    merge_settings_update(consent_conflict_review=True, actor=admin)
    merge_settings_update(consent_conflict_review=True, actor=admin)  # no change: not recorded
    assert MergeSettings.objects.get().consent_conflict_review is True
    change = RuleChange.objects.get(kind=RuleChange.Kind.MERGE_SETTING)
    assert change.before == {"consent_conflict_review": False}
    assert change.after == {"consent_conflict_review": True}
    assert change.actor == admin
    audit = AuditEntry.objects.get(action="merge_setting.changed")
    assert audit.actor == admin and audit.after == {"consent_conflict_review": True}


# --- Probabilistic matching -----------------------------------------------------------------------

JANE = person(
    "Jane", "Doe", "1985-04-12", "12 Oak Road", "SW1A 1AA", "London", "jane.doe@example.com"
)


@pytest.fixture
def jane_twice(db) -> tuple[Profile, Profile]:
    """Jane on the web granted email marketing; her CRM record (no identifier in common, a typo
    in her first name) withdrew it: probabilistic matching scores them one person."""
    keys = sources(db)
    crowd(keys["website"])
    identify(keys["website"], user_id="u-jane", anonymous_id="a-jane", **JANE)
    crm = person("Jnae", "Doe", "1985-04-12", "12 Oak Rd", "sw1a1aa", "London", "j.doe@example.org")
    identify(keys["crm"], anonymous_id="crm-row-1", **crm)
    process()
    web, crm = profile_with("user_id", "u-jane"), profile_with("email", "j.doe@example.org")
    decide(web, "email_marketing", "granted", 2)
    decide(crm, "email_marketing", "withdrawn", 6)
    return web, crm


def test_probabilistic_auto_merge_is_held_for_review_on_a_consent_conflict(jane_twice):
    web, crm = jane_twice
    merge_settings_update(consent_conflict_review=True)
    run = matching_run()
    assert run.merges == 0 and run.held_for_review == 1
    candidate = MatchCandidate.objects.get(profile_a=web, profile_b=crm)
    assert candidate.status == MatchCandidate.Status.PENDING
    assert candidate.explanation["review_because"] == ["consent conflict on email_marketing"]
    assert not ConsentConflict.objects.exists()


def test_probabilistic_auto_merge_records_the_conflict_when_review_is_off(jane_twice):
    web, crm = jane_twice
    run = matching_run()
    assert run.merges == 1
    conflict = ConsentConflict.objects.get()
    assert conflict.merge.reason == "probabilistic"
    assert (conflict.profile_id, conflict.absorbed_id) == (web.pk, crm.pk)
