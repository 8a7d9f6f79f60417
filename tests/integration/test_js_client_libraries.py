"""The real Segment Node library (@segment/analytics-node, from npm, unmodified) delivers every
call type to a live server.

`tests/clients/send_with_analytics_node.mjs` sends one call of each type, flushes and closes, and
exits non-zero when the library emitted any error. The library posts batches of up to `flushAt`
messages to `<host>/v1/batch` with the write key as the Basic-auth username and in the body.
Every message must be stored exactly once, as sent. The browser library is in
tests/e2e/test_analytics_js.py.
"""

import json
from datetime import UTC, datetime

import pytest

from profiles.models import Event, FailedEvent, Source
from profiles.services.sources import source_create
from tests.js_clients import install_snippet, installed, node, summary

WHEN = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
CONSENT = {"Advertising": False, "Analytics": True}
SCRIPT = "send_with_analytics_node.mjs"


pytestmark = pytest.mark.usefixtures("live_server_closes_its_database_connections")


@pytest.fixture(autouse=True)
def analytics_node():
    return installed("@segment/analytics-node")


@pytest.fixture
def source(transactional_db) -> Source:
    source, key = source_create(name="Backend", kind=Source.Kind.SERVER)
    source.key = key
    return source


def send(url: str, key: str, run: str, **options) -> tuple[int, dict]:
    """Run the script; its exit code and its summary (HTTP statuses seen, errors emitted)."""
    process = node(SCRIPT, json.dumps({"host": url, "writeKey": key, "run": run, **options}))
    return process.returncode, summary(process)


def assert_every_call_type_stored_once(source: Source, run: str) -> None:
    events = {e.message_id: e for e in Event.objects.filter(message_id__startswith=f"{run}-")}
    assert sorted(events) == sorted(
        f"{run}-{kind}" for kind in ("identify", "track", "page", "screen", "group", "alias")
    )
    assert {e.source_id for e in events.values()} == {source.pk}
    user = f"{run}-user"

    identify = events[f"{run}-identify"]
    assert (identify.type, identify.user_id) == ("identify", user)
    assert identify.traits == {"email": "ann@example.com", "plan": "pro"}
    assert identify.consent == CONSENT
    assert identify.timestamp == WHEN

    track = events[f"{run}-track"]
    assert (track.type, track.name, track.user_id) == ("track", "Order Completed", user)
    assert track.properties == {
        "order_id": "o-1",
        "revenue": 42.5,
        "products": [{"sku": "A", "qty": 2}],
    }
    assert track.consent == CONSENT
    assert track.context["ip"] == "10.0.0.1"
    assert track.context["library"]["name"] == "@segment/analytics-node"
    assert track.timestamp == WHEN
    assert track.sent_at is not None

    page = events[f"{run}-page"]
    assert (page.type, page.name, page.user_id, page.anonymous_id) == (
        "page",
        "Pricing",
        None,
        f"{run}-anon",
    )
    assert page.properties["url"] == "https://shop.example.com/pricing"
    # The library also copies category and name into properties, as analytics.js does.
    assert page.properties["category"] == "Docs"
    assert page.consent is None

    screen = events[f"{run}-screen"]
    assert (screen.type, screen.name, screen.user_id) == ("screen", "Basket", user)
    assert screen.properties["items"] == 3

    group = events[f"{run}-group"]
    assert (group.type, group.group_id, group.user_id) == ("group", "acme", user)
    assert group.traits == {"name": "Acme Ltd", "employees": 40}

    alias = events[f"{run}-alias"]
    assert (alias.type, alias.user_id, alias.previous_id) == ("alias", user, f"{run}-anon")

    for event in events.values():
        assert source.key not in str(event.extra)


def test_every_call_type(live_server, source):
    code, result = send(live_server.url, source.key, "node")

    assert result["errors"] == []
    assert code == 0
    assert result["statuses"] == [200]  # six messages, one batch
    assert_every_call_type_stored_once(source, "node")
    assert Event.objects.count() == 6
    assert FailedEvent.objects.count() == 0


def test_many_batches(live_server, source):
    code, result = send(live_server.url, source.key, "batch", tracks=250, flushAt=100)

    assert result["errors"] == []
    assert code == 0
    assert result["statuses"] == [200, 200, 200]
    assert_every_call_type_stored_once(source, "batch")
    many = Event.objects.filter(message_id__startswith="many-")
    assert many.filter(type="track", name="Product Viewed").count() == 250
    assert many.get(message_id="many-9").properties == {"sku": "SKU-9", "price": 2.25}
    assert Event.objects.count() == 256
    assert FailedEvent.objects.count() == 0


def test_a_resent_batch_is_stored_once(live_server, source):
    first, _ = send(live_server.url, source.key, "again")
    second, result = send(live_server.url, source.key, "again")

    assert (first, second, result["errors"]) == (0, 0, [])
    assert Event.objects.count() == 6


def test_a_rate_limited_source_loses_nothing(live_server, source):
    """Our 429 carries Retry-After: the library waits that long and sends the batch again."""
    source.rate_limit_per_second = 2
    source.save()

    code, result = send(live_server.url, source.key, "limited", flushAt=1)

    assert result["errors"] == []
    assert code == 0
    assert 429 in result["statuses"]
    assert result["statuses"].count(200) == 6
    assert_every_call_type_stored_once(source, "limited")
    assert FailedEvent.objects.count() == 0


def test_a_wrong_key_is_reported_to_the_library(live_server, source):
    code, result = send(live_server.url, "wk_wrong", "wrong")

    # One 401, not retried, and each message reported as not delivered.
    assert code == 1
    assert result["statuses"] == [401]
    assert len(result["errors"]) == 6
    assert {error["code"] for error in result["errors"]} == {"delivery_failure"}
    assert Event.objects.count() == 0


def test_the_install_help_node_example_sends_here(live_server, source, client_for):
    snippet = install_snippet(client_for("admin"), source, live_server.url, "node")
    assert f'host: "{live_server.url}"' in snippet

    # As copied from the page: an ES module with a top-level await.
    process = node("--input-type=module", stdin=snippet)

    assert process.returncode == 0, process.stderr
    events = {event.type: event for event in Event.objects.filter(source=source)}
    assert set(events) == {"identify", "track"}
    assert events["identify"].traits == {"email": "ada@example.com"}
    assert events["track"].name == "Order Completed"
    assert events["track"].properties == {"order_id": "A-1001", "revenue": 42.5}
