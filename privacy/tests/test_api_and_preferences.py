import pytest
from django.utils import timezone

from privacy.models import DataSubjectRequest
from privacy.preferences import preference_token
from profiles.models import Identity, Profile

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann(db):
    now = timezone.now()
    profile = Profile.objects.create(first_seen=now, last_seen=now, traits={"firstName": "Ann"})
    Identity.objects.create(
        id_type="email",
        value="ann@example.org",
        profile=profile,
        origin_profile=profile,
        first_seen=now,
        last_seen=now,
    )
    return profile


def test_consent_api_records_and_reports(api_client_for, ann):
    admin = api_client_for("admin")
    response = admin.post(
        f"/api/profiles/{ann.pk}/consent",
        {"purpose": "sms", "status": "granted", "evidence": {"form": "f-1"}},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["current"]["sms"]["granted"] is True
    body = api_client_for("analyst").get(f"/api/profiles/{ann.pk}/consent").json()
    assert body["history"][0]["choices"] == {"sms": True}
    assert body["history"][0]["details"]["evidence"]["form"] == "f-1"
    assert body["history"][0]["source"] == "Consent API"


def test_consent_api_refuses_clearly(api_client_for, ann):
    admin = api_client_for("admin")
    bad = admin.post(
        f"/api/profiles/{ann.pk}/consent",
        {"purpose": "telepathy", "status": "granted"},
        format="json",
    )
    assert bad.status_code == 400
    assert "Unknown purpose 'telepathy'" in bad.json()["error"]["message"]
    marketer = api_client_for("marketer")
    assert (
        marketer.post(
            f"/api/profiles/{ann.pk}/consent",
            {"purpose": "sms", "status": "granted"},
            format="json",
        ).status_code
        == 403
    )


def test_requests_api_opens_completes_and_exports(api_client_for, ann):
    admin = api_client_for("admin")
    created = admin.post(
        "/api/privacy-requests/",
        {"kind": "access", "subject_type": "email", "subject_value": " ANN@example.org "},
        format="json",
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["profile"], body["status"], body["overdue"]) == (ann.pk, "open", False)
    assert admin.get(f"/api/privacy-requests/{body['id']}/export").status_code == 404
    assert admin.post(f"/api/privacy-requests/{body['id']}/complete").json()["status"] == "done"
    export = admin.get(f"/api/privacy-requests/{body['id']}/export").json()
    assert export["identifiers"][0]["value"] == "ann@example.org"
    assert api_client_for("marketer").get("/api/privacy-requests/").status_code == 403


def test_preference_centre_via_signed_link(client, ann):
    token = preference_token(ann.pk)
    page = client.get(f"/preferences/{token}/?unsubscribe=email_marketing")
    assert page.status_code == 200
    assert "Untick below and save to unsubscribe" in page.content.decode()
    response = client.post(f"/preferences/{token}/", {"granted": ["sms"]})
    assert "Saved. Thank you." in response.content.decode()
    consent = Profile.objects.get(pk=ann.pk).consent
    assert consent["sms"]["granted"] is True
    assert consent["email_marketing"]["status"] == "denied"
    client.post(f"/preferences/{token}/", {"granted": []})
    assert Profile.objects.get(pk=ann.pk).consent["sms"]["status"] == "withdrawn"
    assert client.get(f"/preferences/{token}x/").status_code == 404
    assert DataSubjectRequest.objects.count() == 0
