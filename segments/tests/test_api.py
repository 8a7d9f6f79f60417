"""The segments REST API: CRUD, validation errors naming the node, preview, refresh, members
(pages and CSV), versions, snapshots, overlap, a profile's segments, and who may do what."""

import csv
import io
from datetime import timedelta

import pytest
import yaml
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from profiles.models import Event, Profile, Source
from segments.models import Segment
from segments.services import segment_archive, segment_create, segment_refresh

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def definition(*children, op="and"):
    return {
        "version": 1,
        "root": {"id": "root", "type": "group", "op": op, "children": list(children)},
    }


VIEWED_3 = {
    "id": "views",
    "type": "event",
    "event": "Product Viewed",
    "window": {"kind": "last_days", "days": 7},
    "count": {"operator": "gte", "value": 3},
}
NO_ORDER = {
    "id": "no_order",
    "type": "event",
    "event": "Order Completed",
    "performed": False,
    "window": {"kind": "last_days", "days": 7},
}
EMAIL_OK = {"id": "mail", "type": "consent", "purpose": "email_marketing", "status": "granted"}
BROWSERS = definition(VIEWED_3, NO_ORDER, EMAIL_OK)


def trait_is(node_id, trait, value):
    return {"id": node_id, "type": "trait", "trait": trait, "operator": "equals", "value": value}


@pytest.fixture
def marketer(api_client_for):
    return api_client_for("marketer")


@pytest.fixture
def analyst(api_client_for):
    return api_client_for("analyst")


@pytest.fixture
def shop(db):
    """Five people with known behaviour in the last week (see each line)."""
    source = Source.objects.create(name="Web", kind="website")
    people = {}
    plan = {
        # name: (views in 7 days, ordered in 7 days, email consent, minutes since last seen)
        "ann": (3, False, True, 5),  # in
        "bob": (4, True, True, 10),  # ordered: out
        "cat": (2, False, True, 15),  # too few views: out
        "dan": (5, False, False, 20),  # no consent: out
        "eve": (6, False, True, 1),  # in
    }
    for n, (name, (views, ordered, consent, minutes)) in enumerate(plan.items()):
        seen = NOW - timedelta(minutes=minutes)
        profile = Profile.objects.create(
            traits={
                "email": f"{name}@example.com",
                "firstName": name.capitalize(),
                "lastName": "Example",
                "plan": "pro" if n % 2 else "free",
            },
            consent={"email_marketing": {"granted": consent, "at": NOW.isoformat()}},
            first_seen=NOW - timedelta(days=30),
            last_seen=seen,
        )
        people[name] = profile
        events = [("Product Viewed", {"product_id": "P1"})] * views
        if ordered:
            events.append(("Order Completed", {"revenue": 120}))
        Event.objects.bulk_create(
            Event(
                source=source,
                message_id=f"{name}-{i}",
                type="track",
                name=event,
                timestamp=seen - timedelta(hours=i),
                received_at=seen,
                properties=properties,
                profile=profile,
            )
            for i, (event, properties) in enumerate(events)
        )
    return people


# --- CRUD ----------------------------------------------------------------------------------------


def test_create_read_update_archive(marketer, shop):
    created = marketer.post(
        "/api/segments/",
        {"name": "Browsers", "definition": BROWSERS, "refresh_minutes": 30},
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Browsers"
    assert body["definition_version"] == 1
    assert body["owner"] == "api-marketer"
    assert body["refresh"] == "realtime"
    assert body["refresh_minutes"] == 30
    assert body["definition"]["root"]["children"][1]["window"] == {"kind": "last_days", "days": 7}
    pk = body["id"]

    listed = marketer.get("/api/segments/").json()
    assert listed["count"] == 1
    assert {"size", "status", "definition_version"} <= set(listed["results"][0])

    changed = marketer.patch(
        f"/api/segments/{pk}/", {"definition": definition(VIEWED_3)}, format="json"
    )
    assert changed.status_code == 200
    assert changed.json()["definition_version"] == 2
    renamed = marketer.patch(f"/api/segments/{pk}/", {"name": "Keen browsers"}, format="json")
    assert (renamed.json()["name"], renamed.json()["definition_version"]) == ("Keen browsers", 2)
    replaced = marketer.put(
        f"/api/segments/{pk}/",
        {"name": "Browsers again", "definition": BROWSERS, "refresh": "scheduled"},
        format="json",
    )
    assert replaced.status_code == 200
    assert replaced.json()["definition_version"] == 3
    assert replaced.json()["refresh"] == "scheduled"

    versions = marketer.get(f"/api/segments/{pk}/versions").json()
    assert [v["version"] for v in versions["results"]] == [3, 2, 1]
    assert versions["results"][0]["saved_by"] == "api-marketer"

    assert marketer.delete(f"/api/segments/{pk}/").status_code == 204
    assert Segment.objects.get(pk=pk).archived
    assert marketer.get("/api/segments/").json()["count"] == 0
    archived = marketer.get("/api/segments/?archived=true").json()
    assert [s["id"] for s in archived["results"]] == [pk]
    assert marketer.get(f"/api/segments/{pk}/").json()["archived"] is True


def test_creating_with_an_interval_stores_it_and_queues_one_refresh(
    marketer, django_capture_on_commit_callbacks
):
    from django_q.models import OrmQ

    OrmQ.objects.all().delete()
    with (
        django_capture_on_commit_callbacks(execute=True),
        CaptureQueriesContext(connection) as queries,
    ):
        created = marketer.post(
            "/api/segments/",
            {"name": "Browsers", "definition": BROWSERS, "refresh_minutes": 30},
            format="json",
        )
    assert created.status_code == 201, created.content
    segment = Segment.objects.get(pk=created.json()["id"])
    assert segment.refresh_minutes == 30
    # Stored by the INSERT: the segment is not created and then saved again.
    assert not [q for q in queries if q["sql"].startswith('UPDATE "segments_segment"')]
    assert segment.versions.count() == 1
    refreshes = [
        task.task["args"]
        for task in OrmQ.objects.all()
        if task.task["func"] == "segments.tasks.refresh_segment"
    ]
    assert [tuple(args) for args in refreshes] == [(segment.pk,)]


def test_list_pages_and_filters_by_status(marketer):
    for n in range(3):
        segment_create(name=f"s{n}", definition=definition())
    Segment.objects.filter(name="s1").update(status=Segment.Status.FAILED, last_error="boom")
    page = marketer.get("/api/segments/?page_size=2").json()
    assert (page["count"], len(page["results"])) == (3, 2)
    assert page["next"] is not None
    failed = marketer.get("/api/segments/?status=failed").json()["results"]
    assert [(s["name"], s["last_error"]) for s in failed] == [("s1", "boom")]


def test_missing_segment_is_a_404_in_the_error_shape(marketer):
    response = marketer.get("/api/segments/999999/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


# --- Validation ----------------------------------------------------------------------------------


def test_invalid_definition_names_the_node_on_create(marketer):
    bad = definition(VIEWED_3, {**NO_ORDER, "window": {"kind": "fortnight"}})
    response = marketer.post("/api/segments/", {"name": "x", "definition": bad}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_definition"
    assert error["details"] == {
        "node_id": "no_order",
        "message": "window kind must be one of ever, last_days, between_days_ago.",
    }
    assert error["message"].startswith("no_order: ")
    assert not Segment.objects.exists()


def test_invalid_definition_names_the_node_on_update(marketer):
    segment = segment_create(name="s", definition=definition(VIEWED_3))
    bad = definition({**VIEWED_3, "count": {"operator": "gte", "value": "three"}})
    response = marketer.patch(f"/api/segments/{segment.pk}/", {"definition": bad}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["node_id"] == "views"
    assert "number" in response.json()["error"]["details"]["message"]
    segment.refresh_from_db()
    assert segment.definition_version == 1


def test_unknown_segment_reference_and_cycles_are_refused(marketer):
    a = segment_create(name="a", definition=definition())
    ref_missing = definition({"id": "other", "type": "segment", "segment": 424242})
    response = marketer.post(
        "/api/segments/", {"name": "b", "definition": ref_missing}, format="json"
    )
    assert response.json()["error"]["details"] == {
        "node_id": "other",
        "message": "segment 424242 does not exist.",
    }
    b = segment_create(
        name="b", definition=definition({"id": "in_a", "type": "segment", "segment": a.pk})
    )
    cycle = definition({"id": "in_b", "type": "segment", "segment": b.pk})
    response = marketer.patch(f"/api/segments/{a.pk}/", {"definition": cycle}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"]["node_id"] is None
    assert "refers back to itself" in response.json()["error"]["message"]


def test_non_object_definition_and_missing_name_are_field_errors(marketer):
    response = marketer.post("/api/segments/", {"name": "x", "definition": [1]}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert "definition" in response.json()["error"]["details"]
    response = marketer.post("/api/segments/", {"definition": BROWSERS}, format="json")
    assert response.json()["error"]["details"] == {"name": ["This field is required."]}


# --- Preview and refresh -------------------------------------------------------------------------


def test_preview_counts_each_node_and_samples_recent_profiles_first(marketer, shop):
    response = marketer.post(
        "/api/segments/preview", {"definition": BROWSERS, "sample": 5}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert body["node_counts"] == {"root": 2, "views": 4, "no_order": 4, "mail": 4}
    assert body["sample_ids"] == [shop["eve"].pk, shop["ann"].pk]
    assert body["query_ms"] >= 0
    assert not Segment.objects.exists()


def test_preview_of_an_invalid_definition_names_the_node(marketer):
    bad = definition({"id": "t", "type": "trait", "trait": "plan", "operator": "between"})
    response = marketer.post("/api/segments/preview", {"definition": bad}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["details"] == {
        "node_id": "t",
        "message": "'between' needs [low, high].",
    }


def test_refresh_stores_membership_and_a_snapshot(marketer, shop):
    segment = segment_create(name="Browsers", definition=BROWSERS)
    response = marketer.post(f"/api/segments/{segment.pk}/refresh")
    assert response.status_code == 200
    body = response.json()
    assert (body["refreshed"], body["entered"], body["exited"]) == (True, 2, 0)
    assert (body["segment"]["size"], body["segment"]["status"]) == (2, "ready")
    snapshots = marketer.get(f"/api/segments/{segment.pk}/snapshots").json()
    assert [(s["size"], s["entered"]) for s in snapshots["results"]] == [(2, 2)]
    versions = marketer.get(f"/api/segments/{segment.pk}/versions").json()["results"]
    assert (versions[0]["size"], versions[0]["entered"]) == (2, 2)
    assert sorted(versions[0]["sample_entered"]) == sorted([shop["ann"].pk, shop["eve"].pk])


def test_refreshing_an_archived_segment_is_a_conflict(marketer):
    segment = segment_archive(segment=segment_create(name="old", definition=definition()))
    response = marketer.post(f"/api/segments/{segment.pk}/refresh")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"


# --- Members -------------------------------------------------------------------------------------


@pytest.fixture
def crowd(db):
    """Seven profiles, all in the segment "Pro plan"."""
    profiles = [
        Profile.objects.create(
            traits={"plan": "pro", "email": f"p{n}@example.com", "firstName": f"P{n}"},
            first_seen=NOW,
            last_seen=NOW,
        )
        for n in range(7)
    ]
    Profile.objects.create(traits={"plan": "free"}, first_seen=NOW, last_seen=NOW)
    segment = segment_create(name="Pro plan", definition=definition(trait_is("p", "plan", "pro")))
    segment_refresh(segment=segment)
    return segment, profiles


def test_members_are_paginated_from_stored_membership(analyst, crowd):
    segment, profiles = crowd
    first = analyst.get(f"/api/segments/{segment.pk}/members?page_size=3").json()
    assert first["count"] == 7
    assert [m["profile_id"] for m in first["results"]] == [p.pk for p in profiles[:3]]
    member = first["results"][0]
    assert (member["email"], member["first_name"], member["last_name"]) == (
        "p0@example.com",
        "P0",
        None,
    )
    assert member["entered_at"]
    last = analyst.get(f"/api/segments/{segment.pk}/members?page_size=3&page=3").json()
    assert [m["profile_id"] for m in last["results"]] == [profiles[6].pk]
    assert last["next"] is None


def _csv(response) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response.streaming
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_members_export_as_csv(analyst, crowd):
    segment, profiles = crowd
    rows = _csv(analyst.get(f"/api/segments/{segment.pk}/members?format=csv"))
    assert rows[0] == ["profile_id", "email", "first_name", "last_name", "entered_at"]
    assert [row[:4] for row in rows[1:]] == [
        [str(p.pk), f"p{n}@example.com", f"P{n}", ""] for n, p in enumerate(profiles)
    ]
    assert all(row[4].startswith(str(NOW.year)) for row in rows[1:])
    by_accept = analyst.get(f"/api/segments/{segment.pk}/members", HTTP_ACCEPT="text/csv")
    assert _csv(by_accept) == rows


def test_members_csv_of_a_missing_segment_is_a_json_404(analyst):
    response = analyst.get("/api/segments/999999/members?format=csv")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error"]["code"] == "not_found"


def test_exited_members_are_not_listed(analyst, crowd):
    segment, profiles = crowd
    Profile.objects.filter(pk=profiles[0].pk).update(traits={"plan": "free"})
    segment_refresh(segment=segment)
    body = analyst.get(f"/api/segments/{segment.pk}/members").json()
    assert body["count"] == 6
    assert profiles[0].pk not in [m["profile_id"] for m in body["results"]]


# --- Overlap and a profile's segments ------------------------------------------------------------


@pytest.fixture
def three_segments(shop):
    pro = segment_create(name="Pro", definition=definition(trait_is("pro", "plan", "pro")))
    browsers = segment_create(name="Browsers", definition=BROWSERS)
    mailable = segment_create(name="Mailable", definition=definition(EMAIL_OK))
    for segment in (pro, browsers, mailable):
        segment_refresh(segment=segment)
    return pro, browsers, mailable


def test_overlap_counts(analyst, three_segments, shop):
    pro, browsers, mailable = three_segments
    # pro: bob, dan; browsers: ann, eve; mailable: ann, bob, cat, eve
    response = analyst.get(f"/api/segments/overlap?ids={pro.pk},{browsers.pk},{mailable.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["sizes"] == {str(pro.pk): 2, str(browsers.pk): 2, str(mailable.pk): 4}
    assert body["pairs"] == [
        {"a": pro.pk, "b": browsers.pk, "both": 0},
        {"a": pro.pk, "b": mailable.pk, "both": 1},
        {"a": browsers.pk, "b": mailable.pk, "both": 2},
    ]
    assert body["all"] == 0
    two = analyst.get(f"/api/segments/overlap?ids={browsers.pk},{mailable.pk}").json()
    assert two["all"] == 2


@pytest.mark.parametrize("ids", ["", "1", "1,x", "1,,2"])
def test_overlap_needs_two_or_more_ids(analyst, ids):
    response = analyst.get(f"/api/segments/overlap?ids={ids}")
    assert response.status_code == 400
    assert "ids" in response.json()["error"]["details"]


def test_overlap_of_a_missing_segment_is_a_404(analyst, three_segments):
    response = analyst.get(f"/api/segments/overlap?ids={three_segments[0].pk},999999")
    assert response.status_code == 404


def test_profile_segments_from_stored_membership_in_one_query(analyst, three_segments, shop):
    _, browsers, mailable = three_segments
    with CaptureQueriesContext(connection) as queries:
        response = analyst.get(f"/api/profiles/{shop['ann'].pk}/segments")
    assert response.status_code == 200
    body = response.json()
    assert body["profile_id"] == shop["ann"].pk
    assert [s["name"] for s in body["segments"]] == ["Browsers", "Mailable"]
    assert [s["id"] for s in body["segments"]] == [browsers.pk, mailable.pk]
    assert all(s["entered_at"] for s in body["segments"])
    segment_queries = [q for q in queries.captured_queries if "segments_" in q["sql"]]
    assert len(segment_queries) == 1

    segment_archive(segment=mailable)
    body = analyst.get(f"/api/profiles/{shop['ann'].pk}/segments").json()
    assert [s["name"] for s in body["segments"]] == ["Browsers"]


def test_profile_segments_of_unknown_merged_and_outsider_profiles(analyst, three_segments, shop):
    assert analyst.get("/api/profiles/999999/segments").status_code == 404
    outsider = Profile.objects.create(first_seen=NOW, last_seen=NOW)
    assert analyst.get(f"/api/profiles/{outsider.pk}/segments").json() == {
        "profile_id": outsider.pk,
        "segments": [],
    }
    Profile.objects.filter(pk=outsider.pk).update(merged_into=shop["eve"])
    body = analyst.get(f"/api/profiles/{outsider.pk}/segments").json()
    assert body["profile_id"] == shop["eve"].pk
    assert [s["name"] for s in body["segments"]] == ["Browsers", "Mailable"]


# --- Roles and schema ----------------------------------------------------------------------------


def test_analyst_reads_but_may_not_write(analyst, marketer, crowd, shop):
    segment, _ = crowd
    pk = segment.pk
    other = segment_create(name="Everyone", definition=definition())
    for path in (
        "/api/segments/",
        f"/api/segments/{pk}/",
        f"/api/segments/{pk}/members",
        f"/api/segments/{pk}/versions",
        f"/api/segments/{pk}/snapshots",
        f"/api/segments/overlap?ids={pk},{other.pk}",
        f"/api/profiles/{shop['ann'].pk}/segments",
    ):
        assert analyst.get(path).status_code == 200, path
    writes = [
        ("post", "/api/segments/", {"name": "x", "definition": BROWSERS}),
        ("patch", f"/api/segments/{pk}/", {"name": "renamed"}),
        ("put", f"/api/segments/{pk}/", {"name": "renamed", "definition": BROWSERS}),
        ("delete", f"/api/segments/{pk}/", None),
        ("post", "/api/segments/preview", {"definition": BROWSERS}),
        ("post", f"/api/segments/{pk}/refresh", None),
    ]
    for method, path, data in writes:
        response = getattr(analyst, method)(path, data, format="json")
        assert response.status_code == 403, (method, path)
        assert response.json()["error"]["code"] == "permission_denied"
    segment.refresh_from_db()
    assert (segment.name, segment.archived) == ("Pro plan", False)
    preview = marketer.post("/api/segments/preview", {"definition": BROWSERS}, format="json")
    assert preview.status_code == 200


def test_schema_documents_the_segments_api_and_the_definition(analyst):
    schema = yaml.safe_load(analyst.get("/api/schema/").content)
    paths = schema["paths"]
    for path in (
        "/api/segments/",
        "/api/segments/{id}/",
        "/api/segments/preview",
        "/api/segments/overlap",
        "/api/segments/{id}/refresh",
        "/api/segments/{id}/members",
        "/api/segments/{id}/versions",
        "/api/segments/{id}/snapshots",
        "/api/profiles/{id}/segments",
    ):
        assert path in paths, path
    assert set(paths["/api/segments/{id}/"]) >= {"get", "put", "patch", "delete"}
    members = paths["/api/segments/{id}/members"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/csv"} <= set(members)
    components = schema["components"]["schemas"]
    segment = components["Segment"]["properties"]
    assert segment["definition"] == {"$ref": "#/components/schemas/SegmentDefinition"}
    node_types = {
        ref["$ref"].rsplit("SegmentDefinition", 1)[-1]
        for ref in components["SegmentDefinitionNode"]["oneOf"]
    }
    kinds = {"Group", "Trait", "Computed", "Event", "Sequence", "Seen", "Consent", "Segment"}
    assert node_types == kinds
    window_kinds = [
        option["properties"]["kind"]["allOf"][0]["enum"]
        for option in components["SegmentDefinitionWindow"]["oneOf"]
    ]
    assert window_kinds == [["ever"], ["last_days"], ["between_days_ago"]]


def test_the_generated_schema_is_valid_openapi():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.validation import validate_schema

    validate_schema(SchemaGenerator().get_schema(request=None, public=True))
