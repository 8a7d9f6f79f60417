"""Probabilistic matching runs on the database: merges, review candidates, guards, decisions."""

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from cdpapp.models import AuditEntry
from profiles.models import MatchCandidate, MatchRun, MergeEntry, Profile
from profiles.selectors.matching import match_records
from profiles.services.matching import (
    MatchReviewError,
    match_candidate_approve,
    match_candidate_reject,
    match_run_request,
    matching_run,
)
from profiles.services.merges import profile_unmerge
from profiles.tests.matching_helpers import crowd, identify, person, process, profile_with, sources

JANE = person(
    "Jane", "Doe", "1985-04-12", "12 Oak Road", "SW1A 1AA", "London", "jane.doe@example.com"
)


@pytest.fixture
def keys(db):
    keys = sources(db)
    crowd(keys["website"])
    return keys


def jane_twice(keys, **crm_extra) -> tuple[Profile, Profile]:
    """Jane on the web with a user id; a CRM record with a typo in her name, another email, the
    postcode written differently and no identifier in common."""
    identify(keys["website"], user_id="u-jane", anonymous_id="a-jane", **JANE)
    crm = person("Jnae", "Doe", "1985-04-12", "12 Oak Rd", "sw1a1aa", "London", "j.doe@example.org")
    identify(keys["crm"], anonymous_id="crm-row-1", **crm, **crm_extra)
    process()
    return profile_with("user_id", "u-jane"), profile_with("email", "j.doe@example.org")


def test_records_come_from_traits_and_identifiers(keys):
    web, crm = jane_twice(keys)
    records = {r.key: r for r in match_records()}
    assert records[web.pk].first_name == "Jane"
    assert records[web.pk].emails == ("jane.doe@example.com",)
    assert records[crm.pk].postcode == "sw1a1aa"
    assert records[crm.pk].street == "12 Oak Rd"
    assert len(records) == 42


def test_a_name_typo_with_the_same_birth_date_and_postcode_is_merged_with_its_reasons(keys):
    web, crm = jane_twice(keys)
    run = matching_run()
    assert run.status == MatchRun.Status.DONE
    assert run.merges == 1
    assert run.profiles == 42 and run.pairs > 0
    crm.refresh_from_db()
    assert crm.merged_into_id == web.pk
    entry = MergeEntry.objects.get(kind="merge", absorbed=crm)
    assert entry.reason == "probabilistic"
    assert entry.score >= 0.99
    assert "fellegi-sunter" in entry.rule
    candidate = MatchCandidate.objects.get(profile_a=web, profile_b=crm)
    assert candidate.status == MatchCandidate.Status.AUTO_MERGED
    fields = {f["field"]: f for f in candidate.explanation["fields"]}
    assert fields["first_name"]["a"] == "Jane" and fields["first_name"]["b"] == "Jnae"
    assert fields["first_name"]["level"] == "Jaro-Winkler ≥ 0.92"
    assert fields["postcode"]["level"] == "exact"
    assert fields["birth_date"]["weight"] > 5
    assert fields["phones"]["level"] == "missing" and fields["phones"]["weight"] == 0
    web.refresh_from_db()
    assert web.events.count() == 2


def test_unrelated_people_are_left_alone(keys):
    run = matching_run()
    assert run.status == MatchRun.Status.DONE
    assert run.merges == 0 and run.candidates == 0
    assert Profile.objects.filter(merged_into__isnull=False).count() == 0


def test_different_verified_identifiers_go_to_review_not_merge(keys):
    identify(keys["crm"], anonymous_id="crm-0", crm_id="CRM-1", **JANE)
    web, crm = jane_twice(keys, crm_id="CRM-2")
    assert profile_with("crm_id", "CRM-1") == web
    run = matching_run()
    assert run.merges == 0
    assert run.held_for_review == 1
    candidate = MatchCandidate.objects.get(profile_a=web, profile_b=crm)
    assert candidate.status == MatchCandidate.Status.PENDING
    assert candidate.score >= 0.99
    assert candidate.explanation["review_because"] == ["different verified crm_id"]
    assert Profile.objects.filter(merged_into__isnull=False).count() == 0


def test_a_household_is_not_merged_automatically(keys):
    identify(keys["website"], user_id="u-jane", **JANE)
    partner = {**JANE, "firstName": "Robert", "birthday": "1979-11-30", "email": "rob@example.com"}
    identify(keys["website"], user_id="u-rob", **partner)
    process()
    run = matching_run(review_threshold=0.5)
    assert run.merges == 0
    candidate = MatchCandidate.objects.get(status="pending")
    assert "first name differs" in candidate.explanation["review_because"]


def test_a_rejected_pair_is_never_proposed_again(keys, make_user):
    identify(keys["crm"], anonymous_id="crm-0", crm_id="CRM-1", **JANE)
    web, crm = jane_twice(keys, crm_id="CRM-2")
    matching_run()
    candidate = MatchCandidate.objects.get(profile_a=web, profile_b=crm, status="pending")
    match_candidate_reject(candidate=candidate, user=make_user("admin"))
    run = matching_run()
    assert run.merges == 0 and run.candidates == 0
    assert run.skipped_rejected == 1
    candidate.refresh_from_db()
    assert candidate.status == MatchCandidate.Status.REJECTED
    assert MatchCandidate.objects.filter(status="pending").count() == 0
    assert AuditEntry.objects.filter(action="match_candidate.rejected").count() == 1


def test_approval_merges_with_reason_review_and_can_be_undone(keys, make_user):
    identify(keys["crm"], anonymous_id="crm-0", crm_id="CRM-1", **JANE)
    web, crm = jane_twice(keys, crm_id="CRM-2")
    matching_run()
    candidate = MatchCandidate.objects.get(profile_a=web, profile_b=crm)
    admin = make_user("admin")
    candidate = match_candidate_approve(candidate=candidate, user=admin)
    assert candidate.status == MatchCandidate.Status.APPROVED
    assert candidate.reviewed_by == admin
    entry = MergeEntry.objects.get(kind="merge", absorbed=crm)
    assert entry.reason == "review" and entry.actor == admin
    audit = AuditEntry.objects.get(action="match_candidate.approved")
    assert audit.actor == admin and audit.after["ledger"] == entry.pk
    crm.refresh_from_db()
    assert crm.merged_into_id == web.pk
    with pytest.raises(MatchReviewError):
        match_candidate_reject(candidate=candidate, user=admin)

    profile_unmerge(entry=entry, actor=admin)
    crm.refresh_from_db()
    assert crm.merged_into_id is None
    assert set(crm.identities.values_list("id_type", flat=True)) >= {"crm_id", "email"}
    assert crm.events.count() == 1
    # Undone means "two people": the next run leaves the pair alone.
    run = matching_run()
    assert run.merges == 0 and run.skipped_rejected == 1


def test_a_candidate_whose_profile_was_merged_meanwhile_is_obsolete(keys, make_user):
    identify(keys["crm"], anonymous_id="crm-0", crm_id="CRM-1", **JANE)
    web, crm = jane_twice(keys, crm_id="CRM-2")
    matching_run()
    candidate = MatchCandidate.objects.get(profile_a=web, profile_b=crm)
    other = Profile.objects.exclude(pk__in=[web.pk, crm.pk]).first()
    Profile.objects.filter(pk=crm.pk).update(merged_into=other)
    with pytest.raises(MatchReviewError, match="merged since"):
        match_candidate_approve(candidate=candidate, user=make_user("admin"))
    candidate.refresh_from_db()
    assert candidate.status == MatchCandidate.Status.OBSOLETE


def test_thresholds_are_checked(keys):
    with pytest.raises(ValueError, match="Thresholds"):
        matching_run(auto_merge_threshold=0.7, review_threshold=0.9)


def test_a_run_requested_from_the_ui_is_queued_once(
    keys, make_user, django_capture_on_commit_callbacks
):
    admin = make_user("admin")
    with django_capture_on_commit_callbacks() as callbacks:
        first = match_run_request(user=admin)
        second = match_run_request(user=admin)
    assert first == second
    assert first.status == MatchRun.Status.QUEUED and first.requested_by == admin
    assert len(callbacks) == 1


def test_a_run_whose_worker_died_is_failed_and_replaced(keys, make_user):
    lost = match_run_request(user=make_user("admin"))
    MatchRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(hours=1))
    fresh = match_run_request()
    lost.refresh_from_db()
    assert lost.status == MatchRun.Status.FAILED and "did not finish" in lost.error
    assert fresh != lost and fresh.status == MatchRun.Status.QUEUED


def test_the_task_runs_a_queued_run(keys, make_user):
    from profiles.tasks_matching import run_matching

    jane_twice(keys)
    run = match_run_request(user=make_user("admin"))
    result = run_matching(run.pk)
    run.refresh_from_db()
    assert run.status == MatchRun.Status.DONE
    assert result["merges"] == run.merges == 1
    assert run.model["name"] == "fellegi-sunter"
    assert run_matching(run.pk) == {"run": run.pk, "status": "not queued"}


def test_resolve_identities_command(keys, capsys):
    identify(keys["website"], user_id="u-jane", anonymous_id="a-jane", **JANE)
    crm = person("Jnae", "Doe", "1985-04-12", "12 Oak Rd", "sw1a1aa", "London", "j@example.org")
    identify(keys["crm"], anonymous_id="crm-row-1", **crm)
    call_command("resolve_identities")
    out = capsys.readouterr().out
    assert "Events processed: 42" in out
    assert "Matching" not in out
    call_command("resolve_identities", "--probabilistic")
    out = capsys.readouterr().out
    assert "Events processed: 0" in out
    assert "1 merged automatically" in out
    assert Profile.objects.filter(merged_into__isnull=False).count() == 1
