"""Consent and privacy in a real browser.

An admin opens a person's consent page, records a decision with its proof and sees the
history and the enforcement decision change; the preference-centre link copied from that page
opens for an anonymous visitor, who unticks a purpose and saves; the admin then opens an
erasure request for the person's email, confirms it, and the profile is gone while the request
shows its steps.
"""

import re

from django.utils import timezone
from playwright.sync_api import expect

from profiles.models import Profile
from profiles.services.sources import source_create
from tests.collect import send_and_process
from tests.e2e.conftest import SCREENSHOTS

EMAIL = "margot.lindqvist@example.com"


def margot() -> Profile:
    _, key = source_create(name="Web shop", kind="website")
    now = timezone.now().isoformat()
    messages = [
        {
            "type": "identify",
            "userId": "u-margot",
            "timestamp": now,
            "traits": {"email": EMAIL, "firstName": "Margot", "lastName": "Lindqvist",
                       "country": "SE"},
        },
        {"type": "track", "userId": "u-margot", "event": "Order Completed", "timestamp": now,
         "properties": {"revenue": 58}},
    ]  # fmt: skip
    send_and_process(key, *messages)
    return Profile.objects.get(identities__value="u-margot")


def email_marketing_row(page):
    return page.get_by_role("table", name="Current consent").get_by_role(
        "row", name=re.compile("^Email marketing")
    )


def test_consent_preference_centre_and_erasure(page, browser, live_server, login, screenshot):
    person = margot()
    login("admin")
    page.goto(f"{live_server.url}/privacy/profiles/{person.pk}/consent")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Consent of Margot Lindqvist #{person.pk}"
    )
    row = email_marketing_row(page)
    expect(row).to_contain_text("not allowed")
    expect(row).to_contain_text("no consent recorded, and the purpose is opt-in here")
    expect(page.get_by_text("No decision recorded yet.")).to_be_visible()
    screenshot("privacy-consent-before")

    # Record a decision: the form is swapped in place, the state and history refresh.
    form = page.locator("#consent-form")
    form.get_by_label("Purpose").select_option(label="Email marketing")
    form.get_by_label("Status").select_option("granted")
    form.get_by_label("Legal basis").select_option("consent")
    form.get_by_label("Proof").fill("Signed in-store form #4411")
    form.get_by_role("button", name="Record decision").click()
    expect(page.get_by_text("Recorded: Email marketing granted.")).to_be_visible()
    history = page.get_by_role("table", name="Consent history")
    expect(history.locator("tbody tr")).to_have_count(1)
    expect(history).to_contain_text("Signed in-store form #4411")
    expect(history).to_contain_text("Admin UI")
    row = email_marketing_row(page)
    expect(row.locator(".pv-decision")).to_contain_text("allowed")
    expect(row.locator(".pv-decision")).not_to_contain_text("not allowed")
    expect(row).to_contain_text("consent granted")
    screenshot("privacy-consent-recorded")

    # Copy the preference-centre link, and open it as an anonymous visitor.
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy preference-centre link").click()
    expect(page.get_by_text("Link copied.")).to_be_visible()
    link = page.evaluate("navigator.clipboard.readText()")
    assert link == page.get_by_role("textbox", name="Preference centre link").input_value()
    assert link.startswith(f"{live_server.url}/preferences/")

    visitor = browser.new_context()
    public = visitor.new_page()
    public.goto(link)
    expect(public.get_by_role("heading", level=1)).to_have_text("Your preferences")
    expect(public.get_by_text("Hello Margot.")).to_be_visible()
    expect(public.get_by_role("link", name="Log out")).to_have_count(0)
    box = public.get_by_role("checkbox", name=re.compile("Email marketing"))
    expect(box).to_be_checked()
    box.uncheck()
    public.get_by_role("button", name="Save my choices").click()
    expect(public.get_by_role("status")).to_have_text("Saved. Thank you.")
    expect(public.get_by_role("checkbox", name=re.compile("Email marketing"))).not_to_be_checked()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    public.screenshot(path=str(SCREENSHOTS / "privacy-preference-centre.png"), full_page=True)
    visitor.close()

    person.refresh_from_db()
    assert person.consent["email_marketing"]["status"] == "withdrawn"
    page.reload()
    row = email_marketing_row(page)
    expect(row).to_contain_text("withdrawn")
    expect(row).to_contain_text("the person withdrew consent")
    withdrawn = history.locator("tbody tr").filter(has_text="withdrawn")
    expect(withdrawn).to_contain_text("Preference centre")

    # An erasure request for the person's email, completed after the confirmation.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Privacy Data-subject requests and deadlines").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Privacy")
    page.get_by_role("navigation", name="Privacy").get_by_role(
        "link", name="Data-subject requests"
    ).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Data-subject requests")
    new = page.get_by_role("form", name="Open a request")
    new.get_by_label("Kind").select_option("erasure")
    new.get_by_label("Regulation").select_option("gdpr")
    new.get_by_label("Find the person by").select_option("email")
    new.get_by_label("Identifier").fill(" Margot.Lindqvist@Example.com ")
    new.get_by_role("button", name="Open request").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Erasure request #")
    expect(page.get_by_role("list", name="Steps")).to_contain_text(f"profile {person.pk}")
    page.get_by_role("link", name="Complete: erase this person…").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Erase this person?")
    impact = page.locator(".pv-impact")
    expect(impact).to_contain_text(f"Profile #{person.pk}")
    expect(impact).to_contain_text("email")
    expect(impact).to_contain_text("events")
    screenshot("privacy-erasure-confirm")
    page.get_by_role("button", name="Erase permanently").click()
    expect(page.get_by_role("status")).to_contain_text("The person is erased.")
    steps = page.get_by_role("list", name="Steps")
    expect(steps.locator("li")).to_have_count(4)
    for name in ("Received", "Matched", "Erased", "Suppressed"):
        expect(steps).to_contain_text(name)
    expect(page.get_by_text("(erased: kept only as a keyed hash)")).to_be_visible()
    screenshot("privacy-erasure-done")

    response = page.goto(f"{live_server.url}/profiles/{person.pk}/")
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert not Profile.objects.filter(pk=person.pk).exists()


def test_overview_retention_purposes_and_audit_log(page, live_server, login, screenshot):
    from datetime import timedelta

    from privacy.models import DataSubjectRequest, SuppressedCount
    from privacy.services.requests import request_create
    from profiles.models import Event

    person = margot()
    long_ago = timezone.now() - timedelta(days=120)
    Event.objects.filter(profile=person).update(received_at=long_ago)
    late = request_create(kind="access", subject_type="email", subject_value=EMAIL)
    DataSubjectRequest.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(days=3))
    for days_ago, count in ((0, 4), (2, 9), (6, 1)):
        SuppressedCount.objects.create(
            day=timezone.localdate() - timedelta(days=days_ago), count=count
        )
    login("admin")

    page.goto(f"{live_server.url}/admin/")
    page.get_by_role("link", name="Privacy Data-subject requests and deadlines").click()
    expect(page.get_by_role("alert")).to_contain_text("1 request overdue.")
    expect(page.get_by_role("table", name="Open requests")).to_contain_text("overdue")
    expect(page.get_by_text("14 in the last 30 days")).to_be_visible()
    screenshot("privacy-overview")

    # Retention: enabling a limit first shows what it would delete, in place.
    page.get_by_role("navigation", name="Privacy").get_by_role("link", name="Retention").click()
    row = page.locator("form.pv-rt-row").filter(has_text="Raw events of Web shop")
    row.get_by_label("Days to keep (Web shop)").fill("90")
    row.get_by_label("Enabled").check()
    row.get_by_role("button", name="Save").click()
    row = page.locator("form.pv-rt-row").filter(has_text="Raw events of Web shop")
    expect(row.get_by_role("alert")).to_contain_text("enabling deletes 2 events")
    screenshot("privacy-retention-confirm")
    row.get_by_role("button", name="Confirm and enable").click()
    row = page.locator("form.pv-rt-row").filter(has_text="Raw events of Web shop")
    expect(row.get_by_role("status")).to_have_text("Saved")
    expect(row.get_by_label("Enabled")).to_be_checked()
    page.get_by_role("button", name="Run now").click()
    expect(page.get_by_role("status")).to_contain_text(
        "Retention ran: 2 events and 0 profiles deleted."
    )
    screenshot("privacy-retention-ran")

    # Purposes: a new text makes a new version.
    page.get_by_role("navigation", name="Privacy").get_by_role("link", name="Purposes").click()
    page.get_by_role("link", name="SMS marketing").click()
    page.get_by_label("Description").fill("Offers, reminders and delivery updates by text message.")
    page.get_by_label("Region 2", exact=True).fill("us")
    page.get_by_label("Default for region 2").select_option("opt_out")
    page.get_by_role("button", name="Save purpose").click()
    expect(page.get_by_role("status")).to_contain_text("Its text is now version 2.")
    sms = page.get_by_role("table", name="Purposes").get_by_role(
        "row", name=re.compile("SMS marketing")
    )
    expect(sms).to_contain_text("v2")
    expect(sms).to_contain_text("US opt-out")
    screenshot("privacy-purposes")

    # The audit log, filtered to this session's retention changes.
    page.get_by_role("navigation", name="Privacy").get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").fill("retention")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No entry matches these filters.")).to_be_visible()
    page.get_by_label("Action").fill("retention_policy.")
    page.get_by_role("button", name="Filter").click()
    entries = page.get_by_role("table", name="Audit entries").locator("tbody tr")
    expect(entries).to_have_count(1)
    expect(entries.first).to_contain_text("retention_policy.created")
    expect(entries.first).to_contain_text('"raw_event_days":90')
    expect(page.get_by_role("link", name="Export CSV")).to_have_attribute(
        "href",
        "/privacy/audit/export.csv?action=retention_policy.&actor=&object_type=&object_id=&since=&until=",
    )
    screenshot("privacy-audit")
