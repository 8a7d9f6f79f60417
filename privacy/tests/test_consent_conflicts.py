"""Consent conflicts found at merges: where admins see them, how they resolve them, who may."""

from datetime import timedelta

import orjson
import pytest
from django.urls import reverse
from django.utils import timezone

from cdpapp.models import AuditEntry
from privacy.models import ConsentConflict
from privacy.services.consent import consent_record
from privacy.services.consent_conflicts import ConsentConflictError, consent_conflict_resolve
from profiles.models import Profile
from profiles.services.merges import profile_merge
from profiles.services.sources import source_create
from tests.collect import send_and_process

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def conflict(db) -> ConsentConflict:
    """Ann's two profiles, merged by hand: one granted email marketing 2 days ago, the other
    withdrew it 4 days ago."""
    _, key = source_create(name="Web", kind="website")
    now = timezone.now()
    send_and_process(
        key,
        *(
            {
                "type": "identify",
                "userId": user,
                "timestamp": now.isoformat(),
                "traits": {"firstName": "Ann"},
            }
            for user in ("u-ann", "u-ann-work")
        ),
    )
    ann = Profile.objects.get(identities__value="u-ann")
    work = Profile.objects.get(identities__value="u-ann-work")
    for profile, status, days in ((ann, "granted", 2), (work, "withdrawn", 4)):
        consent_record(
            profile=profile,
            purpose="email_marketing",
            status=status,
            channel="api",
            at=now - timedelta(days=days),
        )
    profile_merge(survivor=ann, absorbed=work, reason="manual")
    return ConsentConflict.objects.get()


def test_resolving_records_who_when_and_what_and_is_audited(conflict, make_user):
    admin = make_user("admin")
    done = consent_conflict_resolve(conflict=conflict, actor=admin, resolution="Asked Ann: yes")
    assert done.status == ConsentConflict.Status.RESOLVED
    assert done.resolved_by == admin and done.resolved_at is not None
    assert done.resolution == "Asked Ann: yes"
    audit = AuditEntry.objects.get(action="consent_conflict.resolved")
    assert audit.actor == admin and audit.object_id == str(conflict.pk)
    assert audit.before == {"status": "open"}
    assert audit.after["purpose"] == "email_marketing" and audit.after["noted"] is True
    assert "Asked Ann" not in orjson.dumps(audit.after).decode()
    with pytest.raises(ConsentConflictError, match="already resolved"):
        consent_conflict_resolve(conflict=conflict, actor=admin)


def test_the_list_shows_open_conflicts_and_resolving_with_htmx_swaps_the_row(client_for, conflict):
    client = client_for("admin")
    page = client.get(reverse("privacy:consent-conflicts"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'id="conflict-{conflict.pk}"' in html
    assert "email_marketing" in html and "withdrawn" in html and "kept (most recent)" in html
    assert "Mark resolved" in html

    response = client.post(
        reverse("privacy:consent-conflict-resolve", args=[conflict.pk]),
        {"resolution": "Checked with the customer"},
        **HTMX,
    )
    assert response.status_code == 200
    row = response.content.decode()
    assert row.lstrip().startswith(f'<tr id="conflict-{conflict.pk}"')
    assert "resolved" in row and "Checked with the customer" in row and "admin-user" in row
    assert "Mark resolved" not in row

    assert (
        f"conflict-{conflict.pk}"
        not in client.get(reverse("privacy:consent-conflicts")).content.decode()
    )
    resolved = client.get(reverse("privacy:consent-conflicts") + "?status=resolved")
    assert f"conflict-{conflict.pk}" in resolved.content.decode()


def test_resolving_twice_shows_the_message_in_the_row(client_for, conflict):
    client = client_for("admin")
    url = reverse("privacy:consent-conflict-resolve", args=[conflict.pk])
    client.post(url, {}, **HTMX)
    again = client.post(url, {}, **HTMX)
    assert again.status_code == 400
    assert "already resolved" in again.content.decode()


def test_resolving_without_htmx_goes_back_to_the_consent_page(client_for, conflict):
    client = client_for("admin")
    consent_page = reverse("privacy:profile-consent", args=[conflict.profile_id])
    page = client.get(consent_page)
    assert "Conflicts found at merges" in page.content.decode()
    assert f'id="conflict-{conflict.pk}"' in page.content.decode()
    response = client.post(
        reverse("privacy:consent-conflict-resolve", args=[conflict.pk]),
        {"resolution": "", "next": consent_page},
    )
    assert response.status_code == 302 and response["Location"] == consent_page
    conflict.refresh_from_db()
    assert conflict.status == "resolved"
    elsewhere = client.post(
        reverse("privacy:consent-conflict-resolve", args=[conflict.pk]),
        {"next": "https://evil.example/"},
    )
    assert elsewhere["Location"] == reverse("privacy:consent-conflicts")


def test_the_profile_page_links_admins_to_consent_and_names_open_conflicts(client_for, conflict):
    url = reverse("profiles:profile-detail", args=[conflict.profile_id])
    consent_url = reverse("privacy:profile-consent", args=[conflict.profile_id])
    client = client_for("admin")
    html = client.get(url).content.decode()
    assert f'href="{consent_url}"' in html and "Manage consent" in html
    assert "1 open consent conflict" in html
    consent_conflict_resolve(conflict=conflict, actor=None)
    html = client.get(url).content.decode()
    assert "open consent conflict" not in html and "Manage consent" in html


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_other_roles_see_no_consent_link_on_the_profile_page(client_for, conflict, role):
    html = (
        client_for(role)
        .get(reverse("profiles:profile-detail", args=[conflict.profile_id]))
        .content.decode()
    )
    assert "/privacy/profiles/" not in html and "consent conflict" not in html


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_other_roles_may_not_see_or_resolve_conflicts(client_for, api_client_for, conflict, role):
    client = client_for(role)
    assert client.get(reverse("privacy:consent-conflicts")).status_code == 403
    resolve = reverse("privacy:consent-conflict-resolve", args=[conflict.pk])
    assert client.post(resolve, {}).status_code == 403
    api = api_client_for(role)
    assert api.get("/api/consent-conflicts/").status_code == 403
    assert api.post(f"/api/consent-conflicts/{conflict.pk}/resolve", {}).status_code == 403
    conflict.refresh_from_db()
    assert conflict.status == "open"


def test_the_api_lists_and_resolves_conflicts(api_client_for, conflict):
    api = api_client_for("admin")
    listed = api.get("/api/consent-conflicts/?status=open").json()
    [item] = listed["results"] if isinstance(listed, dict) else listed
    assert item["id"] == conflict.pk and item["purpose"] == "email_marketing"
    assert item["survivor_decision"]["status"] == "granted" and item["kept"] == "survivor"
    response = api.post(
        f"/api/consent-conflicts/{conflict.pk}/resolve", {"resolution": "ok"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["status"] == "resolved" and response.json()["resolved_by"] == "api-admin"
    again = api.post(f"/api/consent-conflicts/{conflict.pk}/resolve", {}, format="json")
    assert again.status_code == 400
    listed = api.get("/api/consent-conflicts/?status=open").json()
    assert (listed["results"] if isinstance(listed, dict) else listed) == []
