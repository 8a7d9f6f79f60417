"""The real Segment and RudderStack Python libraries deliver every call type to a live server.

Each library posts to `<host>/v1/batch` with the write key as the Basic-auth username (Segment
also puts it in the body), gzip on or off, one message per request in sync mode or batches of up
to 100 from a background thread. Every message must be stored exactly once, as sent, and the
library must see no error.
"""

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from profiles.models import Event, FailedEvent, Source
from profiles.services.sources import source_create

WHEN = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
CONSENT = {"Advertising": False, "Analytics": True}


@pytest.fixture
def source(transactional_db) -> Source:
    source, key = source_create(name="Backend", kind=Source.Kind.SERVER)
    source.key = key
    return source


@pytest.fixture(autouse=True)
def live_server_closes_its_database_connections(monkeypatch):
    """The libraries keep HTTP connections alive, and the live server's thread for each one keeps
    its database connection while it waits; closing it after every request lets the test
    database be dropped at the end of the run."""
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)


@pytest.fixture
def errors() -> list[Exception]:
    """What the library reports through its on_error callback."""
    return []


@pytest.fixture
def logged_errors(caplog) -> Callable[[], list[str]]:
    """What the libraries log at ERROR (sync mode raises instead, which fails the test)."""
    caplog.set_level(logging.WARNING, logger="segment")
    caplog.set_level(logging.WARNING, logger="rudderstack")
    return lambda: [
        record.getMessage()
        for record in caplog.records
        if record.name in ("segment", "rudderstack", "backoff") and record.levelno >= logging.ERROR
    ]


def segment_client(url: str, key: str, *, gzip: bool, sync_mode: bool, errors: list):
    from segment.analytics import Client

    return Client(
        write_key=key,
        host=url,
        gzip=gzip,
        sync_mode=sync_mode,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
        upload_interval=0.1,
    )


def rudder_client(url: str, key: str, *, gzip: bool, sync_mode: bool, errors: list):
    from rudderstack.analytics import Client

    return Client(
        write_key=key,
        host=url,
        gzip=gzip,
        sync_mode=sync_mode,
        on_error=lambda error, batch: errors.append(error),
        max_retries=1,
        upload_interval=0.1,
    )


CLIENTS: dict[str, Callable[..., Any]] = {"segment": segment_client, "rudder": rudder_client}


def send_every_call_type(client, run: str) -> None:
    """One call of each type; the library mutates `context`, so each call gets its own."""
    client.identify(
        user_id=f"{run}-user",
        traits={"email": "ann@example.com", "plan": "pro"},
        context={"consent": {"categoryPreferences": dict(CONSENT)}},
        message_id=f"{run}-identify",
        timestamp=WHEN,
    )
    client.track(
        user_id=f"{run}-user",
        event="Order Completed",
        properties={"order_id": "o-1", "revenue": 42.5, "products": [{"sku": "A", "qty": 2}]},
        context={"consent": {"categoryPreferences": dict(CONSENT)}, "ip": "10.0.0.1"},
        message_id=f"{run}-track",
        timestamp=WHEN,
    )
    client.page(
        anonymous_id=f"{run}-anon",
        category="Docs",
        name="Pricing",
        properties={"url": "https://shop.example.com/pricing"},
        message_id=f"{run}-page",
    )
    client.screen(
        user_id=f"{run}-user",
        name="Basket",
        properties={"items": 3},
        message_id=f"{run}-screen",
    )
    client.group(
        user_id=f"{run}-user",
        group_id="acme",
        traits={"name": "Acme Ltd", "employees": 40},
        message_id=f"{run}-group",
    )
    client.alias(previous_id=f"{run}-anon", user_id=f"{run}-user", message_id=f"{run}-alias")


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
    assert track.context["library"]["name"] == "analytics-python"
    assert track.timestamp == WHEN
    assert track.sent_at is not None

    page = events[f"{run}-page"]
    assert (page.type, page.name, page.user_id, page.anonymous_id) == (
        "page",
        "Pricing",
        None,
        f"{run}-anon",
    )
    assert page.properties == {"url": "https://shop.example.com/pricing"}
    assert page.extra["category"] == "Docs"
    assert page.consent is None

    screen = events[f"{run}-screen"]
    assert (screen.type, screen.name, screen.user_id) == ("screen", "Basket", user)
    assert screen.properties == {"items": 3}

    group = events[f"{run}-group"]
    assert (group.type, group.group_id, group.user_id) == ("group", "acme", user)
    assert group.traits == {"name": "Acme Ltd", "employees": 40}

    alias = events[f"{run}-alias"]
    assert (alias.type, alias.user_id, alias.previous_id) == ("alias", user, f"{run}-anon")

    for event in events.values():
        assert source.key not in str(event.extra)


@pytest.mark.parametrize("library", sorted(CLIENTS))
@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "plain"])
def test_every_call_type_in_sync_mode(live_server, source, errors, logged_errors, library, gzip):
    client = CLIENTS[library](live_server.url, source.key, gzip=gzip, sync_mode=True, errors=errors)

    send_every_call_type(client, "sync")

    assert errors == []
    assert logged_errors() == []
    assert_every_call_type_stored_once(source, "sync")
    assert Event.objects.count() == 6
    assert FailedEvent.objects.count() == 0


@pytest.mark.parametrize("library", sorted(CLIENTS))
@pytest.mark.parametrize("gzip", [True, False], ids=["gzip", "plain"])
def test_batches_from_the_background_thread(
    live_server, source, errors, logged_errors, library, gzip
):
    client = CLIENTS[library](
        live_server.url, source.key, gzip=gzip, sync_mode=False, errors=errors
    )
    try:
        send_every_call_type(client, "batch")
        for n in range(250):  # several batches of up to 100
            client.track(
                user_id=f"user-{n % 17}",
                event="Product Viewed",
                properties={"sku": f"SKU-{n}", "price": n / 4},
                message_id=f"many-{n}",
            )
        client.flush()
    finally:
        client.join()

    assert errors == []
    assert logged_errors() == []
    assert_every_call_type_stored_once(source, "batch")
    many = Event.objects.filter(message_id__startswith="many-")
    assert many.count() == 250
    assert many.filter(type="track", name="Product Viewed").count() == 250
    assert many.get(message_id="many-9").properties == {"sku": "SKU-9", "price": 2.25}
    assert Event.objects.count() == 256
    assert FailedEvent.objects.count() == 0


@pytest.mark.parametrize("library", sorted(CLIENTS))
def test_a_resent_batch_is_stored_once(live_server, source, errors, logged_errors, library):
    client = CLIENTS[library](live_server.url, source.key, gzip=True, sync_mode=True, errors=errors)

    send_every_call_type(client, "again")
    send_every_call_type(client, "again")

    assert errors == []
    assert logged_errors() == []
    assert Event.objects.count() == 6


@pytest.mark.parametrize("library", sorted(CLIENTS))
def test_a_wrong_key_is_reported_to_the_library(
    live_server, source, errors, logged_errors, library
):
    client = CLIENTS[library](
        live_server.url, "wk_wrong", gzip=False, sync_mode=False, errors=errors
    )
    try:
        client.track(user_id="u1", event="Signed Up")
        client.flush()
    finally:
        client.join()

    # Reported once, as a 401 the library does not retry, with our code and message.
    assert [(error.status, error.code) for error in errors] == [(401, "invalid_write_key")]
    assert "write key" in errors[0].message
    assert not [line for line in logged_errors() if "Backing off" in line]
    assert Event.objects.count() == 0
