"""The segment pages and the builder's htmx actions: partials, errors on nodes, roles."""

import html
import re
from datetime import timedelta

import orjson
import pytest
from django.urls import reverse
from django.utils import timezone

from profiles.models import Profile
from profiles.services.sources import source_create
from segments.domain.definition import find, validate
from segments.models import Segment
from segments.selectors import consent_purposes, event_names, event_property_keys, trait_keys
from segments.services import segment_create, segment_refresh
from tests.collect import send_and_process

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
ACTIONS = ["add", "remove", "move", "toggle", "update", "preview"]


def pid(user_id):
    return Profile.objects.get(identities__value=user_id).pk


@pytest.fixture
def shop(db):
    """ann: 3 views, email consent, plan pro; bob: 1 view and an order; cat: nothing but a trait."""
    _, key = source_create(name="Web", kind="website")
    now = timezone.now()
    at = now.isoformat()
    consent = {"consent": {"categoryPreferences": {"email_marketing": True}}}
    views = [
        {
            "type": "track",
            "userId": "ann",
            "event": "Product Viewed",
            "properties": {"sku": f"A{i}", "price": 10 + i},
            "timestamp": at,
        }
        for i in range(3)
    ]
    send_and_process(
        key,
        {
            "type": "identify",
            "userId": "ann",
            "traits": {"plan": "pro", "email": "ann@x.io", "firstName": "Ann"},
            "context": consent,
            "timestamp": at,
        },
        *views,
        {"type": "identify", "userId": "bob", "traits": {"email": "bob@x.io"}, "timestamp": at},
        {
            "type": "track",
            "userId": "bob",
            "event": "Product Viewed",
            "properties": {"sku": "B"},
            "timestamp": at,
        },
        {
            "type": "track",
            "userId": "bob",
            "event": "Order Completed",
            "properties": {"revenue": 250},
            "timestamp": (now - timedelta(days=1)).isoformat(),
        },
        {"type": "identify", "userId": "cat", "traits": {"usage_pct": 91}, "timestamp": at},
    )
    return key


def definition(*children, op="and"):
    return validate(
        {
            "version": 1,
            "root": {"id": "root", "type": "group", "op": op, "children": list(children)},
        }
    )


VIEWED = {
    "id": "viewed",
    "type": "event",
    "event": "Product Viewed",
    "count": {"operator": "gte", "value": 3},
    "window": {"kind": "last_days", "days": 7},
}
MAIL = {"id": "mail", "type": "consent", "purpose": "email_marketing"}
PLAN = {"id": "plan", "type": "trait", "trait": "plan", "operator": "is_set"}


def nested():
    return definition(
        VIEWED, {"id": "g", "type": "group", "op": "or", "children": [MAIL, PLAN]}, op="and"
    )


def draft_of(response) -> dict:
    """The draft definition the builder partial carries (what the next action will post)."""
    text = response.content.decode()
    match = re.search(r'id="builder-definition"[^>]*value="([^"]*)"', text)
    assert match, "no builder state in the response"
    return orjson.loads(html.unescape(match.group(1)))


def preview_count(response) -> int:
    match = re.search(r'id="preview-count">([\d,]+)<', response.content.decode())
    return int(match.group(1).replace(",", ""))


def act(client, action, draft, **values):
    data = {"definition": orjson.dumps(draft).decode(), **values}
    return client.post(reverse(f"segments:builder-{action}"), data, **HX)


def node_html(response, node_id) -> str:
    """One node's own markup: its head, error and editor (not the nodes inside a group)."""
    text = response.content.decode()
    start = text.rindex("<li", 0, text.index(f'id="node-{node_id}"'))
    ends = [text.find(marker, start) for marker in ("</li>", '<ol class="children')]
    return text[start : min(end for end in ends if end != -1)]


# --- Suggestions ----------------------------------------------------------------------------------


def test_suggestions_come_from_the_data(shop):
    assert event_names() == ["Order Completed", "Product Viewed"]
    assert event_property_keys("Product Viewed") == ["price", "sku"]
    assert event_property_keys("Nothing") == []
    assert {"email", "firstName", "plan", "usage_pct"} <= set(trait_keys())
    assert consent_purposes() == ["email_marketing"]


# --- Builder actions ------------------------------------------------------------------------------


def test_each_action_answers_the_builder_and_the_preview_partials(shop, client_for):
    client = client_for("marketer")
    draft = nested()

    response = act(client, "add", draft, parent="g", kind="event", position="0")
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="builder"')
    assert (
        'id="preview" class="card preview" aria-labelledby="preview-heading" hx-swap-oob="true"'
        in body
    )
    assert "<html" not in body
    added = draft_of(response)
    new_id = find(added, "g")["children"][0]["id"]
    assert find(added, new_id)["type"] == "event"
    assert find(added, new_id)["event"] == "Order Completed"  # the default, seen in the data
    assert 'id="dl-events"' not in body  # page-level suggestions are not re-sent

    response = act(client, "move", added, node=new_id, to="out")
    moved = draft_of(response)
    assert [c["id"] for c in moved["root"]["children"]] == ["viewed", "g", new_id]

    response = act(client, "move", moved, node=new_id, to="position", parent="g", position="1")
    assert [c["id"] for c in find(draft_of(response), "g")["children"]] == ["mail", new_id, "plan"]

    response = act(client, "move", moved, node=new_id, to="up")
    assert [c["id"] for c in draft_of(response)["root"]["children"]] == ["viewed", new_id, "g"]
    response = act(client, "move", moved, node="viewed", to="down")
    assert [c["id"] for c in draft_of(response)["root"]["children"]] == ["g", "viewed", new_id]
    response = act(client, "move", moved, node=new_id, to="into")
    assert [c["id"] for c in find(draft_of(response), "g")["children"]] == ["mail", "plan", new_id]

    response = act(client, "toggle", moved, node="g", what="op")
    assert find(draft_of(response), "g")["op"] == "and"
    response = act(client, "toggle", moved, node=new_id, what="negate")
    assert find(draft_of(response), new_id)["negate"] is True

    response = act(client, "remove", moved, node=new_id)
    assert draft_of(response) == nested()


def test_counts_follow_every_change(shop, client_for):
    client = client_for("marketer")
    response = act(client, "preview", definition())
    assert preview_count(response) == 3  # an empty AND group: everyone
    response = act(client, "add", definition(), parent="root", kind="event")
    draft = draft_of(response)
    assert preview_count(response) == 1  # bob ordered
    node_id = draft["root"]["children"][0]["id"]
    response = act(
        client,
        "update",
        draft,
        node=node_id,
        performed="1",
        event="Product Viewed",
        count_op="gte",
        count_value="3",
        window_kind="last_days",
        window_days="7",
    )
    assert preview_count(response) == 1
    assert find(draft_of(response), node_id)["count"] == {"operator": "gte", "value": 3}
    response = act(client, "preview", nested())
    assert preview_count(response) == 1
    assert '<span class="count"' in node_html(response, "mail")
    assert ">1</span>" in node_html(response, "mail")  # one profile with email consent
    assert ">1</span>" in node_html(response, "plan")
    assert "query " in response.content.decode() and " ms" in response.content.decode()
    assert f'href="/profiles/{pid("ann")}/"' in response.content.decode()


def test_update_parses_typed_values_for_each_kind(shop, client_for):
    client = client_for("marketer")
    draft = definition(PLAN)
    response = act(
        client,
        "update",
        draft,
        node="plan",
        trait="usage_pct",
        operator="between",
        value_low="80",
        value_high="100",
    )
    assert find(draft_of(response), "plan")["value"] == [80, 100]
    response = act(
        client, "update", draft, node="plan", trait="plan", operator="in", value='pro, team, "42"'
    )
    assert find(draft_of(response), "plan")["value"] == ["pro", "team", "42"]
    response = act(
        client, "update", draft, node="plan", trait="plan", operator="equals", value="pro"
    )
    assert preview_count(response) == 1

    events = definition(VIEWED)
    response = act(
        client,
        "update",
        events,
        node="viewed",
        performed="1",
        event="Product Viewed",
        count_op="",
        window_kind="ever",
        filter_add="where",
        filter_default="sku",
    )
    where = find(draft_of(response), "viewed")["where"]
    assert where == [{"property": "sku", "operator": "is_set", "value": None}]
    with_filter = draft_of(response)
    # Property keys seen on this event are offered on its filters.
    body = response.content.decode()
    assert '<datalist id="dl-props-0"><option value="price"><option value="sku"></datalist>' in body
    assert 'name="where-0-property"' in node_html(response, "viewed")
    assert 'list="dl-props-0"' in node_html(response, "viewed")
    response = act(
        client,
        "update",
        with_filter,
        node="viewed",
        performed="1",
        event="Product Viewed",
        window_kind="ever",
        agg_function="sum",
        agg_property="price",
        agg_op="gte",
        agg_value="30",
        **{"where-0-property": "sku", "where-0-operator": "starts_with", "where-0-value": "A"},
    )
    node = find(draft_of(response), "viewed")
    assert node["where"] == [{"property": "sku", "operator": "starts_with", "value": "A"}]
    assert node["aggregate"] == {
        "function": "sum",
        "property": "price",
        "operator": "gte",
        "value": 30,
    }
    assert preview_count(response) == 1  # ann's views: 10 + 11 + 12
    response = act(
        client,
        "update",
        draft_of(response),
        node="viewed",
        performed="0",
        event="Product Viewed",
        window_kind="ever",
        agg_function="sum",
        filter_remove="where-0",
        **{"where-0-property": "sku", "where-0-operator": "is_set"},
    )
    node = find(draft_of(response), "viewed")
    assert node["performed"] is False and "aggregate" not in node and node["where"] == []

    seq = definition(
        {
            "id": "s",
            "type": "sequence",
            "first": {"event": "Product Viewed"},
            "then": {"event": "Order Completed"},
            "within_days": 2,
            "mode": "then",
        }
    )
    response = act(
        client,
        "update",
        seq,
        node="s",
        first_event="Product Viewed",
        then_event="Order Completed",
        mode="not_then",
        within_days="1",
        window_kind="between_days_ago",
        window_from="0",
        window_to="3",
    )
    node = find(draft_of(response), "s")
    assert (node["mode"], node["within_days"], node["window"]) == (
        "not_then",
        1,
        {"kind": "between_days_ago", "from": 0, "to": 3},
    )


def test_an_invalid_edit_shows_the_error_on_its_node_and_keeps_the_draft(shop, client_for):
    client = client_for("marketer")
    draft = nested()
    response = act(client, "update", draft, node="plan", trait="plan", operator="gt", value="lots")
    assert response.status_code == 200
    assert draft_of(response) == draft  # nothing changed
    node = node_html(response, "plan")
    assert "has-error" in node
    assert "the value must be a number, got &#x27;lots&#x27;." in node
    assert 'value="lots"' in node  # what was typed stays in the field, to be fixed
    assert "has-error" not in node_html(response, "mail")

    response = act(client, "move", draft, node="g", to="position", parent="g")
    assert "a group cannot be moved into itself." in node_html(response, "g")
    response = act(client, "move", draft, node="viewed", to="up")
    assert "already first in its group" in node_html(response, "viewed")
    response = act(client, "add", draft, parent="root", kind="segment")
    assert "There is no other segment to refer to yet." in response.content.decode()


def test_a_reference_cycle_is_refused_at_the_edit(shop, client_for):
    client = client_for("marketer")
    first = segment_create(name="First", definition=definition(PLAN))
    segment_create(
        name="Second",
        definition=definition({"id": "ref", "type": "segment", "segment": first.pk}),
    )
    response = act(
        client, "add", first.definition, parent="root", kind="segment", editing=str(first.pk)
    )
    # The only other segment is the default, and it refers back to this one: refused.
    assert "refers back to itself" in response.content.decode()
    assert draft_of(response) == first.definition


def test_explain_marks_each_node(shop, client_for):
    client = client_for("marketer")
    response = act(client, "preview", nested(), explain=str(pid("bob")))
    body = response.content.decode()
    assert "is <strong>out ✗</strong>" in body
    assert 'class="verdict-mark no"' in node_html(response, "viewed")
    assert 'class="verdict-mark no"' in node_html(response, "plan")
    response = act(client, "preview", nested(), explain=str(pid("ann")))
    assert "is <strong>in ✓</strong>" in response.content.decode()
    response = act(client, "preview", nested(), explain="99999")
    assert "There is no profile #99999." in response.content.decode()
    response = act(client, "toggle", nested(), node="g", what="op", explain="ann")
    assert response.status_code == 200  # the edit is made; only the explanation is refused
    assert find(draft_of(response), "g")["op"] == "and"
    assert "A profile id is a number." in response.content.decode()
    assert 'value="ann"' in response.content.decode()


def test_a_broken_draft_is_a_bad_request(client_for):
    client = client_for("marketer")
    response = client.post(reverse("segments:builder-add"), {"definition": "{not json"}, **HX)
    assert response.status_code == 400


# --- Roles ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ACTIONS)
def test_an_analyst_reads_but_every_action_is_refused(shop, client_for, action):
    client = client_for("analyst")
    response = act(client, action, nested(), node="plan", parent="root", kind="trait", what="op")
    assert response.status_code == 403


def test_an_analyst_gets_a_read_only_view(shop, client_for):
    segment = segment_create(name="Nested", definition=nested())
    client = client_for("analyst")
    response = client.get(reverse("segments:detail", args=[segment.pk]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "consent for email_marketing is granted" in body
    assert "hx-post" not in body and "draggable" not in body
    assert "Edit</a>" not in body and "Refresh now" not in body
    assert client.get(reverse("segments:edit", args=[segment.pk])).status_code == 403
    assert client.get(reverse("segments:create")).status_code == 403
    for name in ("duplicate", "archive", "refresh"):
        assert client.post(reverse(f"segments:{name}", args=[segment.pk])).status_code == 403


# --- Pages: create, save, list, detail, overlap ---------------------------------------------------


def test_the_new_page_offers_starters_and_renders_the_chosen_one(shop, client_for):
    client = client_for("marketer")
    response = client.get(reverse("segments:create"))
    body = response.content.decode()
    for name in ("High-value browsers", "Cart abandoners", "declining engagement", "usage limit"):
        assert name in body
    assert (
        '<datalist id="dl-events"><option value="Order Completed"><option value="Product Viewed">'
        in body
    )
    response = client.get(reverse("segments:create") + "?template=high-value-browsers")
    draft = draft_of(response)
    assert [c["id"] for c in draft["root"]["children"]] == ["hvb-views", "hvb-no-order", "hvb-ltv"]
    assert 'value="High-value browsers without a purchase in 7 days"' in response.content.decode()


def test_save_creates_then_saves_a_new_version(shop, client_for):
    client = client_for("marketer")
    data = {
        "name": "Nested",
        "description": "",
        "refresh": "realtime",
        "refresh_minutes": "30",
        "definition": orjson.dumps(nested()).decode(),
    }
    response = client.post(reverse("segments:create"), data)
    segment = Segment.objects.get(name="Nested")
    assert response.status_code == 302
    assert response["Location"] == reverse("segments:edit", args=[segment.pk])
    assert segment.definition == nested()
    assert (segment.definition_version, segment.refresh_minutes) == (1, 60)  # set on edit
    assert segment.owner == client.user

    page = client.get(response["Location"])
    assert draft_of(page) == nested()
    assert "Segment “Nested” created (version 1)." in page.content.decode()

    changed = definition(VIEWED)
    data.update(definition=orjson.dumps(changed).decode(), name="Viewers")
    response = client.post(reverse("segments:edit", args=[segment.pk]), data)
    segment.refresh_from_db()
    assert (segment.name, segment.definition_version, segment.definition) == ("Viewers", 2, changed)
    assert segment.refresh_minutes == 30
    assert "Saved “Viewers”: version 2." in client.get(response["Location"]).content.decode()


def test_save_errors_are_shown(shop, client_for):
    client = client_for("marketer")
    data = {
        "name": "",
        "refresh": "realtime",
        "refresh_minutes": "60",
        "definition": orjson.dumps(nested()).decode(),
    }
    response = client.post(reverse("segments:create"), data)
    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert draft_of(response) == nested()  # the work is not lost
    data.update(
        name="Ghost ref",
        definition=orjson.dumps(
            definition({"id": "ref", "type": "segment", "segment": 424242})
        ).decode(),
    )
    response = client.post(reverse("segments:create"), data)
    assert response.status_code == 400
    assert "segment 424242 does not exist." in node_html(response, "ref")
    assert not Segment.objects.exists()


def test_list_shows_size_status_error_version_and_mode(shop, client_for):
    ok = segment_create(name="Viewers", definition=definition(VIEWED))
    segment_refresh(segment=ok)
    broken = segment_create(name="Broken", definition=definition(PLAN))
    Segment.objects.filter(pk=broken.pk).update(
        status="failed", last_error="OperationalError: canceling statement"
    )
    segment_create(name="Old", definition=definition(PLAN)).__class__.objects.filter(
        name="Old"
    ).update(archived=True)
    client = client_for("analyst")
    body = client.get(reverse("segments:index")).content.decode()
    assert "Viewers" in body and "Broken" in body and "Old" not in body
    assert "OperationalError: canceling statement" in body
    assert "real time" in body and "v1" in body and "never" in body
    assert "New segment" not in body  # analysts do not create
    assert "Old" in client.get(reverse("segments:index") + "?archived=1").content.decode()


def test_detail_shows_members_chart_versions_and_failures(shop, client_for):
    segment = segment_create(
        name="Viewers", definition=definition({**VIEWED, "count": {"operator": "gte", "value": 1}})
    )
    client = client_for("marketer")
    response = client.post(reverse("segments:refresh", args=[segment.pk]))
    assert response.status_code == 302
    page = client.get(response["Location"])
    body = page.content.decode()
    assert "Refreshed: 2 members (2 entered, 0 exited)." in body
    assert 'id="segment-size">2<' in body
    assert f'href="/profiles/{pid("ann")}/"' in body and "Ann" in body
    assert 'id="size-chart"' in body and "plotly/plotly.min.js" in body
    assert "cdn.plot.ly" not in body
    assert "+2" in body  # entered in the last 24 hours and in version 1's diff

    members = client.get(
        reverse("segments:detail", args=[segment.pk]) + "?page=1",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="members",
    )
    assert members.content.decode().lstrip().startswith('<section id="members"')

    Segment.objects.filter(pk=segment.pk).update(definition={"version": 1, "root": {"id": "r"}})
    response = client.post(reverse("segments:refresh", args=[segment.pk]))
    body = client.get(response["Location"]).content.decode()
    assert "Refresh failed: DefinitionError" in body
    assert "The last refresh failed" in body and "&#x27;root&#x27; must be a group node" in body


def test_detail_explains_a_profile_by_get(shop, client_for):
    segment = segment_create(name="Nested", definition=nested())
    client = client_for("analyst")
    url = reverse("segments:detail", args=[segment.pk])
    body = client.get(url + f"?explain={pid('ann')}").content.decode()
    assert "is <strong>in ✓</strong>" in body
    assert "A profile id is a number." in client.get(url + "?explain=abc").content.decode()


def test_duplicate_and_archive(shop, client_for):
    segment = segment_create(name="Nested", definition=nested())
    client = client_for("marketer")
    response = client.post(reverse("segments:duplicate", args=[segment.pk]))
    copy = Segment.objects.get(name="Nested (copy)")
    assert response["Location"] == reverse("segments:edit", args=[copy.pk])
    assert copy.definition == segment.definition
    response = client.post(reverse("segments:archive", args=[segment.pk]), {"archived": "1"})
    assert response["Location"] == reverse("segments:index")
    segment.refresh_from_db()
    assert segment.archived
    client.post(reverse("segments:archive", args=[segment.pk]), {"archived": "0"})
    segment.refresh_from_db()
    assert not segment.archived


def test_overlap_counts_pairs_and_draws_a_chart(shop, client_for):
    viewers = segment_create(
        name="Viewers", definition=definition({**VIEWED, "count": {"operator": "gte", "value": 1}})
    )
    mail = segment_create(name="Mail", definition=definition(MAIL))
    planned = segment_create(name="Planned", definition=definition(PLAN))
    for segment in (viewers, mail, planned):
        segment_refresh(segment=segment)
    client = client_for("analyst")
    url = reverse("segments:overlap")
    assert (
        "Pick at least two segments." in client.get(url, {"segments": [mail.pk]}).content.decode()
    )
    response = client.get(url, {"segments": [viewers.pk, mail.pk, planned.pk]})
    body = response.content.decode()
    rows = re.findall(r'<tr><th scope="row">(\w+)</th>(.*?)</tr>', body)
    matrix = {name: re.findall(r">(\d+)</td>", cells) for name, cells in rows}
    assert matrix == {
        "Viewers": ["2", "1", "1"],
        "Mail": ["1", "1", "1"],
        "Planned": ["1", "1", "1"],
    }
    assert 'id="overlap-all">1<' in body
    assert 'id="overlap-chart"' in body and "50%" in body
