"""The privacy admin pages: purposes, consent on a profile, requests, retention, overview."""

from datetime import timedelta

import orjson
import pytest
from django.urls import reverse
from django.utils import timezone

from cdpapp.models import AuditEntry
from privacy.models import DataSubjectRequest, Purpose, RetentionPolicy, SuppressedCount
from privacy.services.requests import request_create
from profiles.models import Event, Identity, Profile
from profiles.services.sources import source_create
from tests.collect import send_and_process

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def jane(db):
    _, key = source_create(name="Web", kind="website")
    now = timezone.now()
    send_and_process(
        key,
        {
            "type": "identify",
            "userId": "u-jane",
            "timestamp": now.isoformat(),
            "traits": {"email": "jane@example.com", "firstName": "Jane", "country": "FR"},
        },
        {
            "type": "track",
            "userId": "u-jane",
            "event": "Order Completed",
            "timestamp": now.isoformat(),
        },
    )
    return Profile.objects.get(identities__value="u-jane")


# --- Purposes -------------------------------------------------------------------------------------


def test_admin_creates_and_edits_a_purpose(client_for):
    client = client_for("admin")
    page = client.get(reverse("privacy:purposes"))
    assert "Email marketing" in page.content.decode()

    response = client.post(
        reverse("privacy:purpose-create"),
        {
            "slug": "surveys",
            "name": "Surveys",
            "description": "Asking your opinion.",
            "validity_days": "180",
            "region": ["eu", "*", ""],
            "choice": ["opt_in", "opt_out", "opt_in"],
        },
    )
    assert response.status_code == 302
    purpose = Purpose.objects.get(slug="surveys")
    assert (purpose.defaults, purpose.validity_days, purpose.version) == (
        {"EU": "opt_in", "*": "opt_out"},
        180,
        1,
    )

    edit = reverse("privacy:purpose-edit", args=[purpose.pk])
    form = client.get(edit).content.decode()
    assert 'value="EU"' in form and "v1" in form
    response = client.post(
        edit,
        {
            "name": "Surveys",
            "description": "Asking your opinion, twice a year.",
            "validity_days": "",
            "region": ["EU", "*"],
            "choice": ["opt_in", "opt_in"],
        },
        follow=True,
    )
    assert "Its text is now version 2." in response.content.decode()
    purpose.refresh_from_db()
    assert (purpose.version, purpose.validity_days, purpose.defaults["*"]) == (2, None, "opt_in")
    history = client.get(edit).content.decode()
    assert "Asking your opinion, twice a year." in history and "Asking your opinion." in history


def test_bad_region_is_shown_on_the_form(client_for):
    response = client_for("admin").post(
        reverse("privacy:purpose-create"),
        {"slug": "x", "name": "X", "description": "x", "region": ["Narnia"], "choice": ["opt_in"]},
    )
    assert response.status_code == 400
    assert "&#x27;Narnia&#x27; is not a region" in response.content.decode()
    assert 'value="Narnia"' in response.content.decode()  # the row is kept for correction


# --- Consent on a profile -------------------------------------------------------------------------


def test_consent_page_shows_state_decision_history_and_link(client_for, jane):
    client = client_for("admin")
    page = client.get(reverse("privacy:profile-consent", args=[jane.pk])).content.decode()
    assert "Consent of Jane" in page
    assert "Consent region <strong>EU</strong>" in page
    assert "no consent recorded, and the purpose is opt-in here" in page
    assert "/preferences/" in page and "Copy preference-centre link" in page
    assert "No decision recorded yet." in page


def test_recording_a_decision_with_htmx_updates_history_and_enforcement(client_for, jane):
    client = client_for("admin")
    url = reverse("privacy:profile-consent", args=[jane.pk])
    expires = (timezone.localtime() + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        url,
        {
            "purpose": "email_marketing",
            "status": "granted",
            "legal_basis": "consent",
            "expires_at": expires,
            "proof": "Signed paper form #4411",
        },
        **HTMX,
    )
    assert response.status_code == 200
    assert response["HX-Trigger"] == "consent-changed"
    assert "Recorded: Email marketing granted." in response.content.decode()

    state = client.get(url, HTTP_HX_TARGET="consent-state", **HTMX).content.decode()
    assert state.lstrip().startswith('<section id="consent-state"')
    row = state.split('data-purpose="email_marketing"')[1].split("</tr>")[0]
    assert "allowed" in row and "consent granted" in row and "not allowed" not in row

    history = client.get(url, HTTP_HX_TARGET="consent-history", **HTMX).content.decode()
    assert "Signed paper form #4411" in history
    assert "Admin UI" in history and "text version" in history
    assert "<dt>by</dt><dd>admin-user</dd>" in history

    jane.refresh_from_db()
    assert jane.consent["email_marketing"]["status"] == "granted"
    entry = AuditEntry.objects.get(action="consent.changed")
    assert (entry.actor_name, entry.object_id) == ("admin-user", str(jane.pk))


def test_invalid_decision_re_renders_the_form_with_the_message(client_for, jane):
    response = client_for("admin").post(
        reverse("privacy:profile-consent", args=[jane.pk]),
        {
            "purpose": "sms",
            "status": "granted",
            "legal_basis": "consent",
            "expires_at": "2001-01-01T00:00",
            "proof": "call",
        },
        **HTMX,
    )
    assert response.status_code == 400
    assert "The expiry must be in the future." in response.content.decode()
    assert "HX-Trigger" not in response


def test_a_merged_profile_redirects_to_the_profile_it_is_part_of(client_for, jane):
    absorbed = Profile.objects.create(
        first_seen=timezone.now(), last_seen=timezone.now(), merged_into=jane
    )
    response = client_for("admin").get(reverse("privacy:profile-consent", args=[absorbed.pk]))
    assert response.status_code == 302
    assert response["Location"] == reverse("privacy:profile-consent", args=[jane.pk])


def test_marketers_cannot_see_consent_admin(client_for, jane):
    response = client_for("marketer").get(reverse("privacy:profile-consent", args=[jane.pk]))
    assert response.status_code == 403


# --- Data-subject requests ------------------------------------------------------------------------


def test_opening_an_access_request_completing_it_and_downloading_the_export(client_for, jane):
    client = client_for("admin")
    response = client.post(
        reverse("privacy:requests"),
        {
            "kind": "access",
            "regulation": "gdpr",
            "subject_type": "email",
            "subject_value": "Jane@Example.com",
        },
    )
    dsr = DataSubjectRequest.objects.get()
    assert response["Location"] == reverse("privacy:request-detail", args=[dsr.pk])
    assert dsr.profile_id == jane.pk
    detail = client.get(response["Location"]).content.decode()
    assert "Complete: build the export" in detail and "Matched" in detail

    client.post(reverse("privacy:request-complete", args=[dsr.pk]))
    dsr.refresh_from_db()
    assert dsr.status == "done"
    detail = client.get(reverse("privacy:request-detail", args=[dsr.pk])).content.decode()
    assert "Download the export (JSON)" in detail and "Exported" in detail

    export = client.get(reverse("privacy:request-export", args=[dsr.pk]))
    assert export["Content-Type"] == "application/json"
    assert export["Content-Disposition"] == f'attachment; filename="access-request-{dsr.pk}.json"'
    data = orjson.loads(export.content)
    assert data["profile"]["traits"]["firstName"] == "Jane"
    assert {i["value"] for i in data["identifiers"]} >= {"jane@example.com", "u-jane"}


def test_erasure_asks_for_confirmation_naming_what_goes(client_for, jane):
    client = client_for("admin")
    dsr = request_create(kind="erasure", subject_type="email", subject_value="jane@example.com")
    url = reverse("privacy:request-complete", args=[dsr.pk])
    confirm = client.get(url).content.decode()
    assert "Erase this person?" in confirm
    assert f"#{jane.pk}" in confirm
    assert "<strong>2</strong> events" in confirm
    assert "<strong>1</strong> email" in confirm and "<strong>1</strong> user_id" in confirm
    assert "This cannot be undone." in confirm

    assert client.post(url)["Location"] == url  # no confirmation: back to the question
    assert Profile.objects.filter(pk=jane.pk).exists()

    response = client.post(url, {"confirm": "erase"}, follow=True)
    assert "The person is erased." in response.content.decode()
    assert not Profile.objects.filter(pk=jane.pk).exists()
    assert not Identity.objects.filter(value="jane@example.com").exists()
    page = response.content.decode()
    assert (
        "Erased" in page and "Suppressed" in page and "(erased: kept only as a keyed hash)" in page
    )
    assert client.get(reverse("profiles:profile-detail", args=[jane.pk])).status_code == 404
    assert client.get(url)["Location"] == reverse("privacy:request-detail", args=[dsr.pk])


def test_request_list_filters_by_status_and_flags_overdue(client_for, jane):
    client = client_for("admin")
    late = request_create(kind="access", subject_type="user_id", subject_value="u-jane")
    DataSubjectRequest.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(days=2))
    request_create(
        kind="erasure", subject_type="user_id", subject_value="nobody", regulation="ccpa"
    )
    done = request_create(kind="access", subject_type="user_id", subject_value="other")
    DataSubjectRequest.objects.filter(pk=done.pk).update(status="done")

    page = client.get(reverse("privacy:requests")).content.decode()
    assert page.count('class="pv-overdue"') == 1
    assert page.count("<tr class=") == 3
    open_only = client.get(reverse("privacy:requests"), {"status": "open"}).content.decode()
    assert open_only.count("<tr class=") == 2
    assert "other" not in open_only

    bad = client.post(
        reverse("privacy:requests"),
        {"kind": "access", "regulation": "gdpr", "subject_type": "email", "subject_value": "nope"},
    )
    assert bad.status_code == 400
    assert "That email cannot be used" in bad.content.decode()


def test_the_export_of_an_open_request_is_not_found(client_for, jane):
    dsr = request_create(kind="access", subject_type="user_id", subject_value="u-jane")
    response = client_for("admin").get(reverse("privacy:request-export", args=[dsr.pk]))
    assert response.status_code == 404


# --- Overview -------------------------------------------------------------------------------------


def test_overview_alerts_on_overdue_requests_and_counts_suppressed_messages(
    client_for, jane, monkeypatch
):
    monkeypatch.setattr("privacy.views.OPEN_REQUESTS_SHOWN", 1)
    request_create(kind="erasure", subject_type="user_id", subject_value="later")
    late = request_create(kind="access", subject_type="user_id", subject_value="u-jane")
    DataSubjectRequest.objects.filter(pk=late.pk).update(due_at=timezone.now() - timedelta(days=1))
    SuppressedCount.objects.create(day=timezone.localdate(), count=7)
    SuppressedCount.objects.create(day=timezone.localdate() - timedelta(days=3), count=2)
    page = client_for("admin").get(reverse("privacy:overview")).content.decode()
    assert '<div class="pv-alert" role="alert">' in page
    assert "1 request overdue." in page
    assert "<strong>9</strong> in the last 30 days" in page
    assert '<td class="num">7</td>' in page
    assert "Raw events of Web" in page and "Inactive profiles" in page
    assert "1 more open</a>, due later." in page


# --- Retention ------------------------------------------------------------------------------------


@pytest.fixture
def old_events(jane):
    long_ago = timezone.now() - timedelta(days=100)
    Event.objects.filter(profile=jane).update(received_at=long_ago)
    Profile.objects.filter(pk=jane.pk).update(last_seen=long_ago)
    return jane


def test_enabling_retention_shows_the_dry_run_count_and_asks_to_confirm(client_for, old_events):
    client = client_for("admin")
    source = Event.objects.first().source
    page = client.get(reverse("privacy:retention")).content.decode()
    assert f'id="policy-{source.pk}"' in page and 'id="policy-profiles"' in page

    url = reverse("privacy:retention-policy", args=[source.pk])
    asked = client.post(
        url, {"days": "30", "enabled": "1"}, HTTP_HX_TARGET=f"policy-{source.pk}", **HTMX
    )
    text = asked.content.decode()
    assert text.lstrip().startswith(f'<form id="policy-{source.pk}"')
    assert "enabling deletes <strong>2</strong> events" in text
    assert not RetentionPolicy.objects.exists()

    saved = client.post(url, {"days": "30", "enabled": "1", "confirmed": "30:True"}, **HTMX)
    assert "Saved" in saved.content.decode()
    policy = RetentionPolicy.objects.get(source=source)
    assert (policy.raw_event_days, policy.enabled) == (30, True)
    assert AuditEntry.objects.filter(action="retention_policy.created").count() == 1

    # Saving a disabled limit needs no confirmation; the count shows on the page.
    client.post(reverse("privacy:retention-policy", args=["profiles"]), {"days": "30"})
    page = client.get(reverse("privacy:retention")).content.decode()
    profiles_row = page.split('id="policy-profiles"')[1].split("</form>")[0]
    assert "<strong>1</strong> profile" in profiles_row

    response = client.post(reverse("privacy:retention-run"), follow=True)
    assert "Retention ran: 2 events and 0 profiles deleted." in response.content.decode()
    assert AuditEntry.objects.filter(action="retention.run", actor_name="admin-user").exists()


def test_retention_errors_are_shown_in_the_row(client_for, old_events):
    client = client_for("admin")
    response = client.post(
        reverse("privacy:retention-policy", args=["profiles"]), {"enabled": "1"}, **HTMX
    )
    assert response.status_code == 400
    assert "Give a number of days before enabling the policy." in response.content.decode()
    assert client.post(reverse("privacy:retention-policy", args=["nope"])).status_code == 404


def test_admin_home_links_the_privacy_pages(client_for):
    page = client_for("admin").get(reverse("admin-home")).content.decode()
    for name in ("privacy:overview", "privacy:purposes", "privacy:audit", "profiles:import-list"):
        assert f'href="{reverse(name)}"' in page
