"""An admin works the identity review queue: compares a pair side by side, approves it (the
profiles merge), and rejects another pair from the queue."""

import importlib

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import DEFAULT_DB_ALIAS
from playwright.sync_api import expect

from profiles.models import MatchCandidate, MergeEntry, Profile
from profiles.services.matching import matching_run
from profiles.tests.matching_helpers import crowd, identify, person, process, profile_with, sources

# live_server flushes the database between tests; the fixture below puts the seed rows back.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def seed_data(transactional_db):
    """A flush after another browser test may skip post_migrate and the serialized restore: put
    back the role groups and the default identity types (every step is idempotent)."""
    ContentType.objects.clear_cache()
    emit_post_migrate_signal(verbosity=0, interactive=False, db=DEFAULT_DB_ALIAS)
    importlib.import_module("profiles.migrations.0005_default_identity_types").seed(apps, None)


@pytest.fixture
def two_pairs(db):
    """Two CRM duplicates each, held for review because each record has its own CRM id."""
    keys = sources(db)
    crowd(keys["website"], n=30)
    jane = person(
        "Jane", "Doe", "1985-04-12", "12 Oak Road", "SW1A 1AA", "London", "jane@example.com"
    )
    identify(keys["crm"], anonymous_id="c1", crm_id="CRM-1", **jane)
    twin = {**jane, "firstName": "Jnae", "email": "j.doe@example.org"}
    identify(keys["crm"], anonymous_id="c2", crm_id="CRM-2", **twin)
    tom = person("Tom", "Baker", "1970-02-01", "3 Mill Lane", "LS6 2AB", "Leeds", "tb@example.com")
    identify(keys["crm"], anonymous_id="c3", crm_id="CRM-3", **tom)
    other = {**tom, "lastName": "Bakre", "email": "tom.b@example.org"}
    identify(keys["crm"], anonymous_id="c4", crm_id="CRM-4", **other)
    process()
    run = matching_run()
    assert run.candidates == 2
    return (
        MatchCandidate.objects.get(profile_a=profile_with("crm_id", "CRM-1")),
        MatchCandidate.objects.get(profile_a=profile_with("crm_id", "CRM-3")),
    )


def test_admin_compares_approves_and_rejects(page, live_server, login, screenshot, two_pairs):
    jane, tom = two_pairs
    login("admin")
    page.goto(f"{live_server.url}/profiles/matching/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Identity review queue")
    queue = page.get_by_role("table", name="Pending review candidates")
    expect(queue.locator("tbody tr")).to_have_count(2)
    jane_row = page.locator(f"#candidate-{jane.pk}")
    expect(jane_row).to_contain_text("Jnae Doe")
    expect(jane_row).to_contain_text("different verified crm_id")
    expect(page.get_by_role("button", name="Run matching now")).to_be_enabled()
    screenshot("review-queue")

    jane_row.get_by_role("link", name="Compare").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Same person?")
    expect(page.get_by_role("heading", name="Profile A")).to_be_visible()
    expect(page.get_by_role("heading", name="Profile B")).to_be_visible()
    evidence = page.get_by_role("table", name="Field by field")
    first_name = evidence.get_by_role("row").filter(has_text="First name")
    expect(first_name).to_contain_text("Jane")
    expect(first_name).to_contain_text("Jnae")
    expect(first_name).to_contain_text("Jaro-Winkler")
    expect(evidence.get_by_role("row").filter(has_text="Postcode")).to_contain_text("exact")
    screenshot("review-compare")

    page.get_by_role("button", name="Approve: merge").click()
    decision = page.locator("#decision")
    expect(decision).to_contain_text("Approved (merged)")
    expect(decision.get_by_role("link", name="See or undo this merge")).to_be_visible()
    absorbed = Profile.objects.get(pk=jane.profile_b_id)
    assert absorbed.merged_into_id == jane.profile_a_id
    assert MergeEntry.objects.get(absorbed=absorbed).reason == "review"
    screenshot("review-approved")

    decision.get_by_role("link", name="← Back to the queue").click()
    tom_row = page.locator(f"#candidate-{tom.pk}")
    expect(page.locator(f"#candidate-{jane.pk}")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Candidates by status")).to_contain_text(
        "Approved (merged) 1"
    )
    tom_row.get_by_role("button", name=f"Reject candidate {tom.pk}").click()
    expect(tom_row).to_contain_text("Rejected")
    expect(tom_row.get_by_role("button")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Candidates by status")).to_contain_text(
        "Rejected 1"
    )
    tom.refresh_from_db()
    assert tom.status == MatchCandidate.Status.REJECTED
    assert Profile.objects.get(pk=tom.profile_b_id).merged_into_id is None
    screenshot("review-rejected")
