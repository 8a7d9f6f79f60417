from datetime import timedelta

import orjson
import pytest
from django.utils import timezone
from playwright.sync_api import expect

EXPECTED_NAVIGATION = {
    "marketer": ["Profiles", "Segments", "Activations", "Dashboards"],
    "admin": ["Profiles", "Segments", "Activations", "Dashboards", "Admin"],
    "analyst": ["Profiles", "Segments", "Dashboards"],
}
EVERYONE_S_FIGURES = [
    "Active profiles",
    "Events received, last 24 h",
    "Processing lag, p95 of the last hour",
    "Live segments",
]
EXPECTED_FIGURES = {
    "marketer": EVERYONE_S_FIGURES,
    "analyst": EVERYONE_S_FIGURES,
    "admin": [
        *EVERYONE_S_FIGURES,
        "Possible duplicates to review",
        "Open consent conflicts",
        "Open data-subject requests",
        "Failed events, last 24 h",
    ],
}


@pytest.mark.parametrize("role", sorted(EXPECTED_NAVIGATION))
def test_each_role_sees_exactly_its_navigation(page, live_server, login, screenshot, role):
    login(role)
    nav = page.get_by_role("navigation", name="Main").get_by_role("link")
    expect(nav).to_have_text(EXPECTED_NAVIGATION[role])
    expect(page.locator(".topbar .badge")).to_have_text(role)
    expect(page.locator(".figure h3")).to_have_text(EXPECTED_FIGURES[role])
    screenshot(f"home-{role}")


def test_the_admin_home_page_says_where_things_stand(page, live_server, login, screenshot):
    from privacy.models import DataSubjectRequest
    from privacy.services.requests import request_create
    from profiles.models import MatchCandidate, Profile
    from profiles.services.collection import events_collect
    from profiles.services.processing import events_process_pending
    from profiles.services.sources import source_create

    _, key = source_create(name="Web", kind="website")
    now = timezone.now().isoformat()
    events_collect(
        raw=orjson.dumps(
            {
                "batch": [
                    {"type": "identify", "userId": "u-jane", "timestamp": now},
                    {"type": "identify", "userId": "u-jane-2", "timestamp": now},
                    {"type": "track", "event": "Signed Up", "userId": "u-jane", "timestamp": now},
                ]
            }
        ),
        endpoint="batch",
        write_key=key,
        content_type="application/json",
        content_encoding=None,
    )
    events_process_pending()
    low, high = sorted(Profile.objects.values_list("pk", flat=True))
    MatchCandidate.objects.create(profile_a_id=low, profile_b_id=high, score=0.9)
    late = request_create(kind="access", subject_type="user_id", subject_value="u-jane")
    DataSubjectRequest.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(days=2))

    login("admin")
    profiles = page.get_by_role("link", name="Active profiles")
    expect(profiles.locator(".figure-value")).to_have_text("2")
    expect(page.locator("#figure-events .figure-value")).to_have_text("3")
    requests = page.get_by_role("link", name="Open data-subject requests")
    expect(requests).to_contain_text("1 overdue")
    expect(page.locator(".figure.attention h3")).to_have_text(
        ["Possible duplicates to review", "Open data-subject requests"]
    )
    screenshot("home-admin-figures")
    page.get_by_role("link", name="Possible duplicates to review").click()
    page.wait_for_url(f"{live_server.url}/profiles/matching/")


def test_wrong_password_shows_an_error(page, live_server, make_user):
    make_user("analyst", username="ana")
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Password").fill("not-the-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
    assert page.url.endswith("/login/")


def test_forbidden_page_is_friendly_and_logout_works(page, live_server, login, screenshot):
    login("analyst")
    response = page.goto(f"{live_server.url}/admin/users/")
    assert response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("You don't have access to this page")
    screenshot("forbidden")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(f"{live_server.url}/login/")
    page.goto(f"{live_server.url}/dashboards/")
    assert page.url.startswith(f"{live_server.url}/login/")


def test_admin_creates_a_user_and_changes_a_role(page, live_server, login, screenshot):
    login("admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Users and roles").click()
    page.get_by_label("Username").fill("newbie")
    page.get_by_label("Role", exact=True).select_option("marketer")
    page.get_by_label("Password").fill("a-long-password")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("User newbie created.")).to_be_visible()
    page.get_by_label("Role of newbie").select_option("analyst")
    page.get_by_role("row", name="newbie").get_by_role("button", name="Save").click()
    expect(page.get_by_text("newbie is now analyst.")).to_be_visible()
    expect(page.get_by_role("row", name="newbie").locator(".badge")).to_have_text("analyst")
    screenshot("users")
