"""The identity rules and identity health API."""

import pytest

from profiles.models import IdentityType, RuleChange
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from tests.collect import send

pytestmark = pytest.mark.django_db


def test_list_identity_types(api_client_for):
    response = api_client_for("admin").get("/api/identity-types/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == IdentityType.objects.count()
    first = body["results"][0]
    assert first["name"] == "user_id"
    assert set(first) == {
        "name",
        "normaliser",
        "pattern",
        "default_region",
        "trait_keys",
        "priority",
        "max_per_profile",
        "blocked_values",
        "verified",
        "enabled",
    }


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_other_roles_are_refused(api_client_for, role):
    client = api_client_for(role)
    assert client.get("/api/identity-types/").status_code == 403
    assert client.patch("/api/identity-types/email/", {"priority": 1}, format="json").status_code
    assert client.get("/api/identity-health").status_code == 403
    assert IdentityType.objects.get(name="email").priority == 85


def test_patch_changes_rules_and_records_them(api_client_for):
    client = api_client_for("admin")
    response = client.patch(
        "/api/identity-types/email/",
        {"max_per_profile": 3, "blocked_values": [" a@b.com ", "A@B.com"]},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["max_per_profile"] == 3
    assert response.json()["blocked_values"] == ["a@b.com"]
    change = RuleChange.objects.get()
    assert change.actor == client.user


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"pattern": "(("}, "pattern: This is not a valid regular expression"),
        ({"default_region": "QQ"}, "default_region: QQ is not a region"),
        ({"name": "mail"}, "name: Unknown or read-only field"),
        ({"priority": -1}, "priority: Ensure this value is greater than or equal to 0."),
    ],
)
def test_patch_errors_are_specific(api_client_for, body, message):
    response = api_client_for("admin").patch("/api/identity-types/email/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert response.json()["error"]["message"].startswith(message)
    assert not RuleChange.objects.exists()


def test_unknown_type_is_404(api_client_for):
    response = api_client_for("admin").patch("/api/identity-types/nope/", {}, format="json")
    assert response.status_code == 404


def test_simulate_over_the_api(api_client_for):
    _, key = source_create(name="Web", kind="website")
    send(
        key,
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "shared@x.com"}},
        {"type": "identify", "anonymousId": "a2", "traits": {"email": "shared@x.com"}},
    )
    events_process_pending()
    response = api_client_for("admin").post(
        "/api/identity-types/email/simulate",
        {"blocked_values": ["shared@x.com"]},
        format="json",
    )
    assert response.status_code == 200
    impact = response.json()
    assert (impact["profiles_split"], impact["identifiers_dropped"]) == (1, 1)
    assert impact["samples"][0]["kind"] == "split"
    assert IdentityType.objects.get(name="email").blocked_values != ["shared@x.com"]


def test_identity_health(api_client_for, monkeypatch):
    _, key = source_create(name="Web", kind="website")
    send(key, *({"type": "identify", "userId": "u1", "anonymousId": f"a{n}"} for n in range(4)))
    send(key, {"type": "page", "anonymousId": "null"})
    events_process_pending()
    monkeypatch.setenv("IDENTITY_MEGA_THRESHOLD", "4")
    body = api_client_for("admin").get("/api/identity-health").json()
    assert body["mega_profiles"]["count"] == 1
    assert body["mega_profiles"]["alert"] is True
    assert body["merge_rate"] == {"last_hour": 0, "hourly_average": 0.0, "spike": False}
    assert body["junk_identifiers"][0]["value"] == "null"
    assert body["match_rate"] == {"part": 1, "total": 1, "ratio": 1.0}
    assert body["completeness"]["email"]["part"] == 0
    assert body["events_without_profile"]["part"] == 1
    assert body["processor"]["backlog"] == 0
    assert body["processor"]["lag_events"] == 5
    assert isinstance(body["processor"]["lag_p95_seconds"], float)


def test_the_schema_documents_the_endpoints(api_client_for):
    schema = api_client_for("analyst").get("/api/schema/?format=json").json()
    assert "/api/identity-types/{name}/" in schema["paths"]
    assert "patch" in schema["paths"]["/api/identity-types/{name}/"]
    assert "/api/identity-health" in schema["paths"]
