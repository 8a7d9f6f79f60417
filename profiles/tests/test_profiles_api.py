"""The profile API: shapes, search, lookup, sub-lists, the error shape, undo and the schema."""

import pytest
import yaml

from profiles.models import MergeEntry, Profile
from profiles.services.merges import profile_merge
from profiles.tests.explorer_scenario import at, build


@pytest.fixture
def scenario(db):
    return build()


@pytest.fixture
def api(api_client_for):
    return api_client_for("analyst")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    return body["error"]


def test_list_searches_and_paginates(api, scenario):
    body = api.get("/api/profiles/", {"q": "07700 900123"}).json()
    assert body["count"] == 1
    (row,) = body["results"]
    assert row["id"] == scenario.jane.pk
    assert row["name"] == "Jane Doe"
    assert row["email"] == "Jane.Doe@Example.com"
    assert row["computed"]["order_count"] == 1
    everyone = api.get("/api/profiles/", {"page_size": 2}).json()
    assert set(everyone) == {"count", "next", "previous", "results"}
    assert everyone["count"] == 3
    assert len(everyone["results"]) == 2
    assert "page=2" in everyone["next"]


def test_detail_shape(api, scenario):
    body = api.get(f"/api/profiles/{scenario.jane.pk}/").json()
    assert set(body) == {
        "id", "name", "email", "first_seen", "last_seen", "merged_into", "traits", "lineage",
        "computed", "consent", "identifiers",
    }  # fmt: skip
    assert body["merged_into"] is None
    assert body["traits"]["firstName"] == "Jane"
    lineage = body["lineage"]["firstName"]
    assert lineage["source_name"] == "Website"
    assert lineage["at"] == "2026-11-01T09:02:00Z"
    assert isinstance(lineage["event"], int)
    assert body["consent"]["email_marketing"]["granted"] is True
    assert {"type": "phone", "value": "+447700900123"}.items() <= body["identifiers"][3].items()
    assert [i["type"] for i in body["identifiers"]] == [
        "anonymous_id", "anonymous_id", "email", "phone", "user_id",
    ]  # fmt: skip
    assert body["first_seen"] == "2026-11-01T09:00:00Z"
    assert body["computed"]["lifetime_value"] == 42.5


def test_a_merged_profile_names_the_profile_holding_its_data(api, scenario):
    profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    body = api.get(f"/api/profiles/{scenario.crm.pk}/").json()
    assert body["merged_into"] == scenario.jane.pk
    assert body["identifiers"] == []


def test_unknown_profile_is_a_404_in_the_error_shape(api, scenario):
    for path in ("/api/profiles/999999/", "/api/profiles/999999/events"):
        assert_error(api.get(path), 404, "not_found")


def test_lookup_normalises_and_answers_404_when_nobody_matches(api, scenario):
    body = api.get("/api/profiles/lookup", {"type": "email", "value": " JANE.doe@Example.COM"})
    assert body.status_code == 200
    assert body.json()["id"] == scenario.jane.pk
    phone = api.get("/api/profiles/lookup", {"type": "phone", "value": "+44 (0) 7700 900123"})
    assert phone.json()["id"] == scenario.jane.pk
    error = assert_error(
        api.get("/api/profiles/lookup", {"type": "email", "value": "nobody@example.com"}),
        404,
        "not_found",
    )
    assert "nobody@example.com" in error["message"]
    assert_error(api.get("/api/profiles/lookup", {"type": "shoe", "value": "9"}), 400, "invalid")
    assert_error(api.get("/api/profiles/lookup", {"type": "email"}), 400, "invalid")


def test_lookup_of_a_merged_identifier_answers_the_survivor(api, scenario):
    profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    body = api.get("/api/profiles/lookup", {"type": "crm_id", "value": "C-1"}).json()
    assert body["id"] == scenario.jane.pk


def test_events_newest_first_paginated_and_filtered(api, scenario):
    body = api.get(f"/api/profiles/{scenario.jane.pk}/events", {"page_size": 3}).json()
    assert body["count"] == 4
    assert [e["name"] for e in body["results"]] == ["Order Completed", None, "Product Viewed"]
    first = body["results"][0]
    assert first["source_name"] == "Pos"
    assert first["properties"] == {"revenue": 42.5}
    assert first["timestamp"] == at(60).replace("+00:00", "Z")
    named = api.get(f"/api/profiles/{scenario.jane.pk}/events", {"name": "Home"}).json()
    assert [e["type"] for e in named["results"]] == ["page"]


def test_identifiers_and_merges(api, scenario):
    entry = profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    identifiers = api.get(f"/api/profiles/{scenario.jane.pk}/identifiers").json()
    assert identifiers["count"] == 8
    assert {"type": "crm_id", "value": "C-1", "source_name": "Crm"}.items() <= next(
        i for i in identifiers["results"] if i["type"] == "crm_id"
    ).items()
    merges = api.get(f"/api/profiles/{scenario.jane.pk}/merges").json()
    (row,) = merges["results"]
    assert row["id"] == entry.pk
    assert (row["kind"], row["survivor"], row["absorbed"], row["reason"]) == (
        "merge",
        scenario.jane.pk,
        scenario.crm.pk,
        "review",
    )
    assert row["undone_by"] is None
    assert row["undoable"] is True


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_undo_needs_manage_identity(api_client_for, scenario, role):
    entry = profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    response = api_client_for(role).post(f"/api/merges/{entry.pk}/undo")
    assert_error(response, 403, "permission_denied")
    assert MergeEntry.objects.get(pk=entry.pk).undone_by is None


def test_admin_undoes_a_merge_once(api_client_for, scenario):
    entry = profile_merge(survivor=scenario.jane, absorbed=scenario.crm, reason="review")
    admin = api_client_for("admin")
    response = admin.post(f"/api/merges/{entry.pk}/undo")
    assert response.status_code == 201
    body = response.json()
    assert (body["kind"], body["undoes"], body["actor"]) == ("unmerge", entry.pk, "api-admin")
    assert Profile.objects.get(pk=scenario.crm.pk).merged_into_id is None
    crm = admin.get(f"/api/profiles/{scenario.crm.pk}/identifiers").json()
    assert {i["value"] for i in crm["results"]} == {"crm-row-1", "C-1", "jane.d@work.example"}
    merges = admin.get(f"/api/profiles/{scenario.jane.pk}/merges").json()["results"]
    assert merges[1]["undone_by"] == body["id"] and merges[1]["undoable"] is False
    assert_error(admin.post(f"/api/merges/{entry.pk}/undo"), 409, "conflict")
    assert_error(admin.post("/api/merges/999999/undo"), 404, "not_found")


def test_schema_documents_the_profile_api(api):
    schema = yaml.safe_load(api.get("/api/schema/").content)
    paths = schema["paths"]
    for path in (
        "/api/profiles/",
        "/api/profiles/{id}/",
        "/api/profiles/lookup",
        "/api/profiles/{id}/events",
        "/api/profiles/{id}/identifiers",
        "/api/profiles/{id}/merges",
        "/api/merges/{id}/undo",
    ):
        assert path in paths, path
    lookup = paths["/api/profiles/lookup"]["get"]
    assert {p["name"] for p in lookup["parameters"]} == {"type", "value"}
    assert "404" in lookup["responses"]
    assert "merged_into" in schema["components"]["schemas"]["ProfileDetail"]["properties"]
