"""The profile explorer in a real browser: the unification scenario, a merge by review, undo.

Jane browses anonymously, identifies, then buys in store where the POS writes her phone another
way; her CRM record shares no identifier and is merged by hand (reason "review"). The explorer
finds her by the phone written a third way, shows every event on one profile and the merge;
the admin undoes it and both profiles come back with their own identifiers and events.
"""

import importlib
import re

import pytest
from django.apps import apps
from django.contrib.contenttypes.models import ContentType
from django.core.management.sql import emit_post_migrate_signal
from django.db import DEFAULT_DB_ALIAS
from playwright.sync_api import expect

from profiles.services.merges import profile_merge
from profiles.tests.explorer_scenario import build


@pytest.fixture(autouse=True)
def seed_data(transactional_db):
    """Browser tests flush the database after each test, and a flush after a serialized-rollback
    test skips post_migrate: put back what migrations and post_migrate create (content types,
    permissions, role groups, the default identity types); every step is idempotent."""
    ContentType.objects.clear_cache()
    emit_post_migrate_signal(verbosity=0, interactive=False, db=DEFAULT_DB_ALIAS)
    importlib.import_module("profiles.migrations.0005_default_identity_types").seed(apps, None)


def identifier_values(page) -> list[str]:
    return (
        page.get_by_role("table", name="Identifiers", exact=True).locator("code").all_inner_texts()
    )


def test_find_a_person_see_one_profile_and_undo_a_merge(page, live_server, login, screenshot):
    scenario = build()
    jane, crm = scenario.jane, scenario.crm
    entry = profile_merge(survivor=jane, absorbed=crm, reason="review")
    login("admin")

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profiles").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Profiles")
    expect(page.get_by_role("table", name="Profiles").locator("tbody tr")).to_have_count(2)
    # A third way of writing her phone; results update as the text is typed, no submit.
    page.get_by_role("searchbox").press_sequentially("+44 7700 900 123", delay=20)
    rows = page.get_by_role("table", name="Profiles").locator("tbody tr")
    expect(page.get_by_text("1 profile match")).to_be_visible()
    expect(rows).to_have_count(1)
    # Merged, the most recent first name wins: the CRM's typo, until the merge is undone.
    expect(rows.first).to_contain_text("Jnae Doe")
    expect(rows.first).to_contain_text("42.50")
    assert "q=%2B44+7700+900+123" in page.url or "q=%2B44%207700%20900%20123" in page.url
    screenshot("explorer-search")

    rows.first.get_by_role("link", name="Jnae Doe").click()
    page.wait_for_url(f"{live_server.url}/profiles/{jane.pk}/")
    timeline = page.get_by_role("list", name="Event timeline").locator("details")
    expect(timeline).to_have_count(5)  # web page, view, identify; POS order; CRM record
    expect(page.locator("#timeline h2")).to_contain_text("(5)")
    assert identifier_values(page) == [
        "anon-1", "crm-row-1", "pos-receipt-77", "C-1", "jane.d@work.example",
        "jane.doe@example.com", "+447700900123", "u-jane",
    ]  # fmt: skip
    history = page.get_by_role("table", name="Merge history")
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history).to_contain_text("review")
    expect(history).to_contain_text("in effect")
    # Expand the POS order: its JSON shows; a trait's lineage names its source.
    order = timeline.filter(has_text="Order Completed")
    order.locator("summary").click()
    expect(order.get_by_label("Event JSON")).to_contain_text('"revenue": 42.5')
    last_name = page.get_by_role("table", name="Traits", exact=True).get_by_role(
        "row", name=re.compile("lastName")
    )
    last_name.locator("summary").click()
    expect(last_name.get_by_role("link", name=re.compile(r"event #\d+"))).to_be_visible()
    screenshot("explorer-profile-merged")

    page.once("dialog", lambda dialog: dialog.accept())
    history.get_by_role("button", name="Undo").click()
    page.wait_for_url(f"{live_server.url}/profiles/merges/{entry.pk}/")
    expect(page.get_by_role("status")).to_contain_text(
        f"profile #{crm.pk} is its own profile again"
    )
    expect(page.locator(".merge-state")).to_contain_text("undone")
    expect(page.get_by_text("4 events · 5 identifiers")).to_be_visible()
    expect(page.get_by_text("1 event · 3 identifiers")).to_be_visible()
    expect(page.get_by_role("table", name=f"Identifiers of profile #{crm.pk}")).to_contain_text(
        "C-1"
    )
    expect(page.get_by_role("button", name=re.compile("Undo"))).to_have_count(0)
    screenshot("explorer-merge-undone")

    page.get_by_role("link", name=f"Jane Doe #{jane.pk}").click()
    expect(page.get_by_role("list", name="Event timeline").locator("details")).to_have_count(4)
    assert identifier_values(page) == [
        "anon-1", "pos-receipt-77", "jane.doe@example.com", "+447700900123", "u-jane",
    ]  # fmt: skip
    expect(page.get_by_role("table", name="Merge history")).to_contain_text("undone")
    expect(page.get_by_role("table", name="Traits", exact=True)).to_contain_text("Jane")
    expect(page.get_by_role("table", name="Traits", exact=True)).not_to_contain_text(
        "jane.d@work.example"
    )
    screenshot("explorer-profile-after-undo")

    page.goto(f"{live_server.url}/profiles/{crm.pk}/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Jnae Doe")
    expect(page.get_by_role("list", name="Event timeline").locator("details")).to_have_count(1)
    assert identifier_values(page) == ["crm-row-1", "C-1", "jane.d@work.example"]


def test_marketers_see_the_merge_but_no_undo(page, live_server, login, screenshot):
    scenario = build()
    profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    login("marketer")
    page.goto(f"{live_server.url}/profiles/{scenario.crm.pk}/")
    # The absorbed profile's address leads to the profile it is part of now, with a notice.
    page.wait_for_url(f"{live_server.url}/profiles/{scenario.jane.pk}/")
    expect(page.get_by_role("status")).to_contain_text(
        f"Profile #{scenario.crm.pk} was merged into profile #{scenario.jane.pk}"
    )
    expect(page.get_by_role("table", name="Merge history")).to_contain_text("in effect")
    expect(page.get_by_role("button", name="Undo")).to_have_count(0)
    screenshot("explorer-profile-marketer")
