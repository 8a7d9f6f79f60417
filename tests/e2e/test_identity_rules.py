"""An admin changes an identity rule: simulates, sees the impact, confirms, finds it in history."""

import re

import pytest
from playwright.sync_api import expect

from profiles.models import Identity, IdentityType
from profiles.services.identity_rules import identity_type_update
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from tests.collect import send

# Against live_server, so transactional: the root conftest puts the default identity types back.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def two_people_one_link():
    """One email per profile keeps a1 and a2 apart although a1 later used a2's email."""
    identity_type_update(identity_type=IdentityType.objects.get(name="email"), max_per_profile=1)
    _, key = source_create(name="Web store", kind="website")
    send(
        key,
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "ann@example.org"}},
        {"type": "identify", "anonymousId": "a2", "traits": {"email": "bob@example.org"}},
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "bob@example.org"}},
        {"type": "identify", "anonymousId": "a3", "traits": {"email": "cy@example.org"}},
    )
    events_process_pending()
    return [Identity.objects.get(value=v).profile_id for v in ("a1", "a2")]


def test_admin_simulates_saves_and_sees_the_change_in_history(
    page, live_server, login, screenshot, two_people_one_link
):
    p1, p2 = two_people_one_link
    login("admin")
    page.goto(f"{live_server.url}/profiles/identity/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Identity types")
    page.get_by_role("link", name="email", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("email")

    page.get_by_label("Max per profile").fill("2")
    page.get_by_role("button", name="Simulate").click()
    impact = page.get_by_role("region", name="Impact")
    expect(impact.locator(".idr-counts")).to_contain_text("Profiles merged")
    expect(impact.locator(".idr-counts dd").first).to_have_text("2")
    samples = impact.get_by_role("table", name="Sample profiles")
    expect(samples.get_by_role("link", name=f"#{p1}")).to_have_attribute("href", f"/profiles/{p1}/")
    expect(samples.get_by_role("link", name=f"#{p2}")).to_be_visible()
    expect(samples).to_contain_text("would merge")
    screenshot("identity-rules-simulated")

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_text("This change affects today's profiles")).to_be_visible()
    assert IdentityType.objects.get(name="email").max_per_profile == 1
    screenshot("identity-rules-confirm")
    page.get_by_role("button", name="Save anyway").click()
    expect(page.get_by_text("Identity type email saved.")).to_be_visible()
    assert IdentityType.objects.get(name="email").max_per_profile == 2

    page.get_by_role("navigation", name="Identity rules").get_by_role(
        "link", name="Change history"
    ).click()
    rows = page.get_by_role("table", name="Rule changes").locator("tbody tr")
    expect(rows.first).to_contain_text("admin-user")
    expect(rows.first).to_contain_text(re.compile(r"max per profile\s+1\s+→\s+2"))
    screenshot("identity-rules-history")


def test_identity_health_page_raises_alerts(
    page, live_server, login, screenshot, two_people_one_link, monkeypatch
):
    _, key = source_create(name="Kiosk", kind="pos")
    send(key, *({"type": "page", "anonymousId": "anonymous"} for _ in range(12)))
    events_process_pending()
    monkeypatch.setenv("IDENTITY_MEGA_THRESHOLD", "1")
    login("admin")
    page.goto(f"{live_server.url}/profiles/identity/health/")
    expect(page.get_by_role("heading", level=1)).to_have_text("Identity health")
    mega = page.get_by_label("Mega-profiles")
    expect(mega).to_contain_text("3 profiles hold more than 1 identifier:")
    expect(mega).to_have_class(re.compile("idr-alert-on"))
    junk = page.get_by_label("Junk identifiers")
    expect(junk.locator("tr.idr-hot")).to_contain_text("anonymous")
    expect(page.get_by_label("Merge rate")).not_to_have_class(re.compile("idr-alert-on"))
    expect(page.get_by_role("table", name="Profile completeness")).to_contain_text("email")
    screenshot("identity-health")


def test_admin_sets_a_source_priority_rule(page, live_server, login, screenshot):
    source_create(name="POS", kind="pos")
    source_create(name="CRM", kind="crm")
    login("admin")
    page.goto(f"{live_server.url}/profiles/identity/survivorship/")
    page.get_by_label("Trait", exact=True).fill("phone")
    page.get_by_label("Rule", exact=True).select_option("source_priority")
    page.get_by_label("CRM", exact=True).fill("1")
    page.get_by_label("POS", exact=True).fill("2")
    page.get_by_role("button", name="Save rule").click()
    expect(page.get_by_text("Survivorship rule for phone saved.")).to_be_visible()
    row = page.get_by_role("table", name="Survivorship rules").locator("tr", has_text="phone")
    expect(row.locator("ol li")).to_have_text(["CRM", "POS"])
    screenshot("identity-survivorship")
    page.goto(f"{live_server.url}/profiles/identity/")
    screenshot("identity-types")
