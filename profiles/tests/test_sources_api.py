"""The REST API for sources, write keys, events and failed events."""

from datetime import timedelta

import pytest
from django.utils import timezone

from profiles.models import Event, FailedEvent, Source
from profiles.tests.sources_helpers import collect, make_event, make_source

pytestmark = pytest.mark.django_db

TRACK = {"batch": [{"type": "track", "userId": "u-1", "event": "Order Completed"}]}


@pytest.fixture
def api(api_client_for):
    return api_client_for("admin")


@pytest.fixture
def web():
    return make_source("Web shop")


def error(response) -> dict:
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


# --- sources ------------------------------------------------------------------------------------


def test_create_returns_the_key_once(api, client):
    response = api.post(
        "/api/sources/",
        {"name": "Backend", "kind": "server", "rate_limit_per_second": 50},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    key = body["write_key"]
    assert key.startswith("wk_")
    assert body["name"] == "Backend"
    assert body["rate_limit_per_second"] == 50
    assert (body["events_24h"], body["failed_open"]) == (0, 0)
    assert collect(client, key, TRACK).status_code == 200

    detail = api.get(f"/api/sources/{body['id']}/").json()
    listing = api.get("/api/sources/").json()
    assert "write_key" not in detail
    assert key not in str(detail) and key not in str(listing)
    assert detail["write_keys"][0]["prefix"] == key[:8]
    assert detail["write_keys"][0]["state"] == "live"


def test_create_validates_with_the_error_shape(api, web, settings):
    duplicate = api.post("/api/sources/", {"name": "Web shop", "kind": "website"}, format="json")
    assert duplicate.status_code == 400
    assert error(duplicate)["code"] == "invalid"
    assert "name" in error(duplicate)["details"]

    settings.COLLECT_MAX_BODY_BYTES = 100_000
    too_big = api.post(
        "/api/sources/",
        {"name": "Big", "kind": "server", "max_batch_bytes": 200_000},
        format="json",
    )
    assert too_big.status_code == 400
    assert error(too_big)["message"].startswith("max_batch_bytes: At most 100000 bytes")

    bad_plan = api.post(
        "/api/sources/",
        {"name": "Plan", "kind": "server", "tracking_plan": {"Signed Up": {"plan": "money"}}},
        format="json",
    )
    assert bad_plan.status_code == 400
    assert "unknown type 'money'" in error(bad_plan)["message"]
    assert Source.objects.count() == 1


def test_list_counts_and_paginates(api, client):
    sources = [make_source(f"Source {n:02}") for n in range(7)]
    make_event(sources[0])
    make_event(sources[0], received_at=timezone.now() - timedelta(days=2))
    collect(client, sources[0].key, {"batch": [{"type": "track"}]})

    page = api.get("/api/sources/?page_size=5").json()
    assert page["count"] == 7
    assert len(page["results"]) == 5
    assert page["next"].endswith("page=2&page_size=5")
    first = page["results"][0]
    assert (first["name"], first["events_24h"], first["failed_open"]) == ("Source 00", 1, 1)
    assert len(api.get("/api/sources/?page=2&page_size=5").json()["results"]) == 2


def test_patch_changes_settings_and_checks_them(api, client, web):
    response = api.patch(
        f"/api/sources/{web.pk}/",
        {
            "tracking_plan": {"Order Completed": {"revenue": "number"}},
            "tracking_plan_mode": "quarantine",
        },
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["tracking_plan_mode"] == "quarantine"
    collect(client, web.key, TRACK)
    assert FailedEvent.objects.get().code == "tracking_plan"

    refused = api.patch(f"/api/sources/{web.pk}/", {"max_message_bytes": 10**9}, format="json")
    assert refused.status_code == 400
    assert "max_message_bytes" in error(refused)["details"]

    disabled = api.patch(f"/api/sources/{web.pk}/", {"enabled": False}, format="json")
    assert disabled.json()["enabled"] is False
    assert collect(client, web.key, TRACK).status_code == 401
    assert api.put(f"/api/sources/{web.pk}/", {}, format="json").status_code == 405


def test_rotate_keeps_the_old_key_during_the_grace_then_not(api, client, web):
    response = api.post(f"/api/sources/{web.pk}/rotate-key", {"grace_hours": 1}, format="json")
    assert response.status_code == 201
    new_key = response.json()["write_key"]
    states = [key["state"] for key in response.json()["write_keys"]]
    assert states == ["live", "expiring"]

    assert collect(client, web.key, TRACK).status_code == 200
    assert collect(client, new_key, TRACK).status_code == 200

    # The grace period passes.
    web.write_keys.filter(expires_at__isnull=False).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert collect(client, web.key, TRACK).status_code == 401
    assert collect(client, new_key, TRACK).status_code == 200


def test_rotate_default_grace_is_24_hours(api, web):
    before = timezone.now()
    api.post(f"/api/sources/{web.pk}/rotate-key", {}, format="json")
    old = web.write_keys.get(expires_at__isnull=False)
    assert (
        timedelta(hours=23, minutes=59) < old.expires_at - before <= timedelta(hours=24, seconds=5)
    )
    too_long = api.post(f"/api/sources/{web.pk}/rotate-key", {"grace_hours": 10_000}, format="json")
    assert too_long.status_code == 400


def test_revoke_makes_collection_answer_401(api, client, web):
    key = web.write_keys.get()
    response = api.post(f"/api/sources/{web.pk}/keys/{key.pk}/revoke")
    assert response.status_code == 200
    assert response.json()["state"] == "revoked"
    answer = collect(client, web.key, TRACK)
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "invalid_write_key"
    other = make_source("Other")
    assert api.post(f"/api/sources/{other.pk}/keys/{key.pk}/revoke").status_code == 404


# --- events -------------------------------------------------------------------------------------


def test_events_filter_by_every_field(api_client_for, web):
    api = api_client_for("analyst")  # events are read with view_profiles
    pos = make_source("POS", kind="pos")
    now = timezone.now()
    a = make_event(web, name="Order Completed", user_id="u-1", received_at=now - timedelta(hours=3))
    b = make_event(
        web,
        type="page",
        name="Home",
        user_id=None,
        anonymous_id="anon-1",
        received_at=now - timedelta(hours=2),
    )
    c = make_event(pos, name="Order Completed", user_id="u-2", received_at=now - timedelta(hours=1))

    def ids(query: str) -> list[int]:
        response = api.get(f"/api/events/?{query}")
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("") == [c.pk, b.pk, a.pk]
    assert ids(f"source={web.pk}") == [b.pk, a.pk]
    assert ids("type=page") == [b.pk]
    assert ids("event=Order+Completed") == [c.pk, a.pk]
    assert ids("userId=u-2") == [c.pk]
    assert ids("anonymousId=anon-1") == [b.pk]
    assert ids(f"messageId={a.message_id}") == [a.pk]
    since = (now - timedelta(hours=2, minutes=30)).isoformat().replace("+00:00", "Z")
    until = (now - timedelta(minutes=90)).isoformat().replace("+00:00", "Z")
    assert ids(f"since={since}") == [c.pk, b.pk]
    assert ids(f"since={since}&until={until}") == [b.pk]

    row = api.get(f"/api/events/?messageId={a.message_id}").json()["results"][0]
    assert row["source"] == web.pk
    assert row["name"] == "Order Completed"
    assert set(row) >= {"properties", "traits", "context", "violations", "received_at"}


def test_events_paginate_with_a_count(api, web):
    for _ in range(12):
        make_event(web)
    page = api.get("/api/events/?page_size=5&page=3").json()
    assert page["count"] == 12
    assert len(page["results"]) == 2
    assert page["next"] is None


def test_events_refuse_bad_filters_in_the_error_shape(api):
    response = api.get("/api/events/?type=purchase&since=yesterday")
    assert response.status_code == 400
    assert error(response)["code"] == "invalid"
    assert set(error(response)["details"]) == {"type", "since"}


# --- failed events ------------------------------------------------------------------------------


def test_failed_events_filter_by_source_code_and_status(api, client, web):
    pos = make_source("POS", kind="pos")
    collect(client, web.key, {"batch": [{"type": "track", "userId": "u"}, {"type": "identify"}]})
    collect(client, pos.key, {"batch": [{"type": "track", "userId": "u"}]})
    missing_identity = FailedEvent.objects.get(code="missing_identity")
    missing_identity.status = FailedEvent.Status.DISCARDED
    missing_identity.save()

    def codes(query: str) -> list[tuple[int, str]]:
        body = api.get(f"/api/failed-events/?{query}").json()
        assert body["count"] == len(body["results"])
        return sorted((row["source"], row["code"]) for row in body["results"])

    assert len(codes("")) == 3
    assert codes(f"source={web.pk}") == [(web.pk, "missing_event"), (web.pk, "missing_identity")]
    assert codes("code=missing_event") == [(web.pk, "missing_event"), (pos.pk, "missing_event")]
    assert codes("status=discarded") == [(web.pk, "missing_identity")]
    assert api.get("/api/failed-events/?status=lost").status_code == 400


def test_replay_with_a_corrected_payload(api, client, web):
    collect(client, web.key, {"batch": [{"type": "track", "userId": "u-1", "messageId": "m-1"}]})
    failed = FailedEvent.objects.get()

    still = api.post(
        f"/api/failed-events/{failed.pk}/replay",
        {"payload": {"type": "track", "messageId": "m-1", "event": "E"}},
        format="json",
    )
    assert still.status_code == 200
    assert (still.json()["status"], still.json()["code"]) == ("failed", "missing_identity")

    done = api.post(
        f"/api/failed-events/{failed.pk}/replay",
        {"payload": {"type": "track", "messageId": "m-1", "event": "E", "userId": "u-1"}},
        format="json",
    )
    assert done.json()["status"] == "replayed"
    assert done.json()["replayed_by"] == "api-admin"
    assert Event.objects.get().message_id == "m-1"

    again = api.post(f"/api/failed-events/{failed.pk}/replay", {}, format="json")
    assert again.status_code == 409
    assert error(again)["code"] == "conflict"
    assert Event.objects.count() == 1


def test_replay_without_a_body_replays_the_stored_payload(api, client, web):
    web.tracking_plan = {"Order Completed": {"revenue": "number"}}
    web.tracking_plan_mode = "quarantine"
    web.save()
    collect(client, web.key, TRACK)
    failed = FailedEvent.objects.get()
    api.patch(f"/api/sources/{web.pk}/", {"tracking_plan": {}}, format="json")

    response = api.post(f"/api/failed-events/{failed.pk}/replay")
    assert response.json()["status"] == "replayed"
    discard = api.post(f"/api/failed-events/{failed.pk}/discard")
    assert discard.status_code == 409


# --- who may ------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_sources_and_failed_events_are_for_admins_only(api_client_for, client, web, role):
    api = api_client_for(role)
    collect(client, web.key, {"batch": [{"type": "track"}]})
    failed = FailedEvent.objects.get()
    key = web.write_keys.get()
    for response in (
        api.get("/api/sources/"),
        api.post("/api/sources/", {"name": "x", "kind": "server"}, format="json"),
        api.get(f"/api/sources/{web.pk}/"),
        api.patch(f"/api/sources/{web.pk}/", {"enabled": False}, format="json"),
        api.post(f"/api/sources/{web.pk}/rotate-key"),
        api.post(f"/api/sources/{web.pk}/keys/{key.pk}/revoke"),
        api.get("/api/failed-events/"),
        api.post(f"/api/failed-events/{failed.pk}/replay"),
    ):
        assert response.status_code == 403
        assert error(response)["code"] == "permission_denied"
    assert api.get("/api/events/").status_code == 200
    web.refresh_from_db()
    assert web.enabled
    assert web.write_keys.get().revoked_at is None


def test_schema_documents_the_endpoints(api):
    schema = api.get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/sources/",
        "/api/sources/{id}/",
        "/api/sources/{id}/rotate-key",
        "/api/sources/{id}/keys/{key_id}/revoke",
        "/api/events/",
        "/api/failed-events/",
        "/api/failed-events/{id}/replay",
    ):
        assert path in paths, path
    event_params = {param["name"] for param in paths["/api/events/"]["get"]["parameters"]}
    assert event_params >= {
        "source",
        "type",
        "event",
        "userId",
        "anonymousId",
        "messageId",
        "since",
        "until",
        "page",
        "page_size",
    }
    created = paths["/api/sources/"]["post"]["responses"]["201"]
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("SourceCreated")
    assert "409" in paths["/api/failed-events/{id}/replay"]["post"]["responses"]
