"""The audit log page, its CSV export and GET /api/audit/: filters, pages, access."""

import csv
import io
from datetime import UTC, datetime
from unittest import mock

import pytest
from django.urls import reverse

from cdpapp.audit import audit_record
from cdpapp.models import AuditEntry

pytestmark = pytest.mark.django_db


def record_at(when: datetime, **fields) -> AuditEntry:
    with mock.patch("django.utils.timezone.now", return_value=when):
        return audit_record(**fields)


@pytest.fixture
def log(make_user):
    admin = make_user("admin", username="root")
    bob = make_user("admin", username="bob")
    record_at(
        datetime(2025, 3, 1, 9, tzinfo=UTC), actor=admin, action="consent.changed",
        object_type="profile", object_id=12, before={"sms": None}, after={"sms": {"granted": True}},
    )  # fmt: skip
    record_at(
        datetime(2025, 3, 5, 9, tzinfo=UTC), actor=bob, action="consent.changed",
        object_type="profile", object_id=13, after={"sms": {"granted": False}},
    )  # fmt: skip
    record_at(
        datetime(2025, 3, 9, 9, tzinfo=UTC), actor=admin, action="dsr.erasure.done",
        object_type="dsr", object_id=4, after={"deleted": {"events": 3}},
    )  # fmt: skip
    record_at(datetime(2025, 3, 10, 9, tzinfo=UTC), actor=None, action="retention.run",
              object_type="retention", after={"events": {}, "profiles": 0})  # fmt: skip
    return admin


def shown(response) -> list[str]:
    """The actions of the entries shown on the page, in order."""
    body = response.content.decode().split('aria-label="Audit entries"')[1].split("</table>")[0]
    return [cell.split("</code>")[0] for cell in body.split("<td><code>")[1:]]


def test_filters_by_action_actor_object_and_dates(client, log):
    client.force_login(log)
    url = reverse("privacy:audit")
    page = client.get(url)  # the two user.created entries of the fixture are the newest
    assert shown(page)[-4:] == [
        "retention.run",
        "dsr.erasure.done",
        "consent.changed",
        "consent.changed",
    ]
    assert "system" in page.content.decode()
    assert shown(client.get(url, {"action": "consent.changed"})) == ["consent.changed"] * 2
    assert shown(client.get(url, {"action": "dsr."})) == ["dsr.erasure.done"]
    assert shown(client.get(url, {"action": "consent.changed", "actor": "BOB"})) == [
        "consent.changed"
    ]
    assert shown(client.get(url, {"object_type": "profile", "object_id": "12"})) == [
        "consent.changed"
    ]
    dated = client.get(url, {"since": "2025-03-05", "until": "2025-03-09"})
    assert shown(dated) == ["dsr.erasure.done", "consent.changed"]
    nothing = client.get(url, {"actor": "nobody"})
    assert "No entry matches these filters." in nothing.content.decode()


def test_bad_dates_are_refused_with_a_message(client, log):
    client.force_login(log)
    response = client.get(reverse("privacy:audit"), {"since": "2025-04-01", "until": "2025-03-01"})
    assert response.status_code == 400
    assert "The start date is after the end date." in response.content.decode()
    assert client.get(reverse("privacy:audit-export"), {"since": "soon"}).status_code == 400


def test_pages_of_fifty(client, log):
    for n in range(60):
        audit_record(actor=log, action="test.bulk", object_type="t", object_id=n)
    client.force_login(log)
    first = client.get(reverse("privacy:audit"), {"action": "test.bulk"})
    text = first.content.decode()
    assert len(shown(first)) == 50 and "Page 1 of 2" in text
    assert "?action=test.bulk&amp;page=2" in text
    second = client.get(reverse("privacy:audit"), {"action": "test.bulk", "page": 2})
    assert len(shown(second)) == 10


def test_csv_export_streams_the_filtered_entries(client, log):
    client.force_login(log)
    response = client.get(reverse("privacy:audit-export"), {"action": "consent."})
    assert response.streaming
    assert response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"] == 'attachment; filename="audit-log.csv"'
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["at", "actor", "action", "object_type", "object_id", "before", "after"]
    assert [(r[1], r[2], r[4]) for r in rows[1:]] == [
        ("bob", "consent.changed", "13"),
        ("root", "consent.changed", "12"),
    ]
    assert rows[2][0] == "2025-03-01T09:00:00+00:00"
    assert rows[2][5] == '{"sms":null}' and rows[2][6] == '{"sms":{"granted":true}}'


def test_api_lists_and_filters_the_log(api_client_for, log):
    api = api_client_for("admin")
    body = api.get("/api/audit/", {"action": "consent.", "since": "2025-03-02"}).json()
    assert body["count"] == 1
    assert body["results"][0] | {"id": 0} == {
        "id": 0,
        "at": "2025-03-05T09:00:00Z",
        "actor": "bob",
        "action": "consent.changed",
        "object_type": "profile",
        "object_id": "13",
        "before": None,
        "after": {"sms": {"granted": False}},
    }
    bad = api.get("/api/audit/", {"until": "tomorrow"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"]


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_only_admins_read_the_log(client_for, api_client_for, role, log):
    assert client_for(role).get(reverse("privacy:audit")).status_code == 403
    assert api_client_for(role).get("/api/audit/").status_code == 403
