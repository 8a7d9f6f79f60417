"""Rejecting a data-subject request: with a reason, audited, closed, listed; admins only."""

import orjson
import pytest
from django.urls import reverse
from django.utils import timezone

from cdpapp.models import AuditEntry
from privacy.models import DataSubjectRequest
from privacy.services.requests import (
    RequestError,
    request_complete_erasure,
    request_create,
    request_reject,
)
from profiles.services.sources import source_create
from tests.collect import send_and_process

pytestmark = pytest.mark.django_db
REASON = "We could not verify that the request came from the account holder."


@pytest.fixture
def dsr(db) -> DataSubjectRequest:
    _, key = source_create(name="Web", kind="website")
    message = {
        "type": "identify",
        "userId": "u-rita",
        "timestamp": timezone.now().isoformat(),
        "traits": {"email": "rita@example.org"},
    }
    send_and_process(key, message)
    return request_create(kind="access", subject_type="email", subject_value="rita@example.org")


def test_rejecting_closes_the_request_with_its_reason_and_is_audited(dsr, make_user):
    admin = make_user("admin")
    done = request_reject(request=dsr, reason=f"  {REASON} ", actor=admin)
    assert done.status == "rejected" and done.completed_at is not None
    assert done.rejection_reason == REASON
    assert done.steps[-1]["step"] == "rejected"
    audit = AuditEntry.objects.get(action="dsr.access.rejected")
    assert audit.actor == admin and audit.object_id == str(dsr.pk)
    assert audit.before == {"status": "open"} and audit.after["status"] == "rejected"
    assert "verify" not in orjson.dumps(audit.after).decode()
    with pytest.raises(RequestError, match="Only an open request"):
        request_reject(request=done, reason=REASON)


def test_a_reason_is_required(dsr):
    with pytest.raises(RequestError, match="Say why"):
        request_reject(request=dsr, reason="   ")
    dsr.refresh_from_db()
    assert dsr.status == "open"


def test_an_erasure_of_the_same_person_clears_the_reason(dsr):
    request_reject(request=dsr, reason="Sent from rita@example.org, not verified")
    erasure = request_create(kind="erasure", subject_type="email", subject_value="rita@example.org")
    request_complete_erasure(request=erasure)
    dsr.refresh_from_db()
    assert dsr.rejection_reason == "" and dsr.subject_value == ""


def test_admin_rejects_from_the_request_page_and_the_list_shows_it(client_for, dsr):
    client = client_for("admin")
    detail = client.get(reverse("privacy:request-detail", args=[dsr.pk])).content.decode()
    assert "Reject request" in detail
    empty = client.post(reverse("privacy:request-reject", args=[dsr.pk]), {"reason": ""})
    assert empty.status_code == 400
    assert "This field is required" in empty.content.decode()
    response = client.post(reverse("privacy:request-reject", args=[dsr.pk]), {"reason": REASON})
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "Rejected" in page and REASON in page and "Reject request" not in page
    listed = client.get(reverse("privacy:requests") + "?status=rejected").content.decode()
    assert f"#{dsr.pk}</a>" in listed and "We could not verify" in listed
    assert (
        f"#{dsr.pk}</a>"
        not in client.get(reverse("privacy:requests") + "?status=open").content.decode()
    )


def test_the_api_rejects_with_a_reason(api_client_for, dsr):
    api = api_client_for("admin")
    missing = api.post(f"/api/privacy-requests/{dsr.pk}/reject", {}, format="json")
    assert missing.status_code == 400
    response = api.post(f"/api/privacy-requests/{dsr.pk}/reject", {"reason": REASON}, format="json")
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["rejection_reason"] == REASON
    again = api.post(f"/api/privacy-requests/{dsr.pk}/reject", {"reason": "x"}, format="json")
    assert again.status_code == 400


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_other_roles_may_not_reject(client_for, api_client_for, dsr, role):
    url = reverse("privacy:request-reject", args=[dsr.pk])
    assert client_for(role).post(url, {"reason": REASON}).status_code == 403
    api = api_client_for(role)
    api_url = f"/api/privacy-requests/{dsr.pk}/reject"
    assert api.post(api_url, {"reason": REASON}, format="json").status_code == 403
    dsr.refresh_from_db()
    assert dsr.status == "open"
