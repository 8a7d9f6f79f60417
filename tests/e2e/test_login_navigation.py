import pytest
from playwright.sync_api import expect

EXPECTED_NAVIGATION = {
    "marketer": ["Profiles", "Segments", "Activations", "Dashboards"],
    "admin": ["Profiles", "Segments", "Activations", "Dashboards", "Admin"],
    "analyst": ["Profiles", "Segments", "Dashboards"],
}


@pytest.mark.parametrize("role", sorted(EXPECTED_NAVIGATION))
def test_each_role_sees_exactly_its_navigation(page, live_server, login, screenshot, role):
    login(role)
    nav = page.get_by_role("navigation", name="Main").get_by_role("link")
    expect(nav).to_have_text(EXPECTED_NAVIGATION[role])
    expect(page.locator(".badge")).to_have_text(role)
    screenshot(f"home-{role}")


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
