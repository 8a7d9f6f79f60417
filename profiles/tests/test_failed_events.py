"""Replaying and discarding failed events: through the real collection path, stored once."""

import pytest

from profiles.models import Event, FailedEvent
from profiles.services.failed_events import (
    FailedEventError,
    failed_event_discard,
    failed_event_replay,
    failed_events_replay_all,
)
from profiles.services.sources import source_update
from profiles.tests.sources_helpers import basic, collect, make_source

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin(make_user):
    return make_user("admin")


@pytest.fixture
def web():
    return make_source("Web")


def send(client, source, *messages):
    response = collect(client, source.key, {"batch": list(messages)})
    assert response.status_code == 200, response.content
    return response.json()


def only_failed(source) -> FailedEvent:
    return FailedEvent.objects.get(source=source, status=FailedEvent.Status.FAILED)


def test_a_corrected_message_is_stored_once_and_marked_replayed(client, web, admin):
    send(client, web, {"type": "track", "userId": "u-1", "messageId": "m-1"})  # no event name
    failed = only_failed(web)
    assert failed.code == "missing_event"

    fixed = {**failed.payload, "event": "Order Completed", "properties": {"revenue": 42}}
    done = failed_event_replay(failed_event=failed, payload=fixed, user=admin)

    assert done.status == FailedEvent.Status.REPLAYED
    assert done.replayed_by == admin
    assert done.replayed_at is not None
    assert done.payload == fixed
    event = Event.objects.get(source=web)
    assert (event.message_id, event.name, event.properties) == (
        "m-1",
        "Order Completed",
        {"revenue": 42},
    )
    assert event.received_at >= failed.received_at
    with pytest.raises(FailedEventError, match="already replayed"):
        failed_event_replay(failed_event=done, payload=fixed, user=admin)
    assert Event.objects.filter(source=web).count() == 1
    assert FailedEvent.objects.count() == 1


def test_a_message_without_message_id_gets_the_same_id_on_every_attempt(client, web, admin):
    send(client, web, {"type": "track", "userId": "u-1", "timestamp": "2026-03-01T10:00:00Z"})
    failed = only_failed(web)
    fixed = {**failed.payload, "event": "Signed Up"}

    failed_event_replay(failed_event=failed, payload=fixed, user=admin)
    failed.refresh_from_db()
    event = Event.objects.get(source=web)
    # A retry of the same replay (status reset by hand) is a duplicate, not a second event.
    FailedEvent.objects.filter(pk=failed.pk).update(status=FailedEvent.Status.FAILED)
    failed_event_replay(failed_event=failed, payload=fixed, user=admin)
    assert list(Event.objects.filter(source=web)) == [event]
    assert event.timestamp.isoformat() == "2026-03-01T10:00:00+00:00"


def test_a_still_invalid_payload_stays_failed_with_the_new_reason(client, web, admin):
    send(client, web, {"type": "track", "userId": "u-1"})
    failed = only_failed(web)

    attempt = {"type": "track", "event": "Order Completed"}  # now the identity is missing
    kept = failed_event_replay(failed_event=failed, payload=attempt, user=admin)

    assert kept.status == FailedEvent.Status.FAILED
    assert kept.code == "missing_identity"
    assert kept.reason == "Message needs a userId or an anonymousId."
    assert kept.payload == attempt
    assert kept.replayed_at is None
    assert not Event.objects.exists()
    assert FailedEvent.objects.count() == 1


def test_replay_without_a_payload_uses_the_stored_one_against_current_rules(client, web, admin):
    source_update(
        source=web,
        tracking_plan={"Order Completed": {"revenue": "number"}},
        tracking_plan_mode="quarantine",
    )
    send(client, web, {"type": "track", "userId": "u-1", "event": "Order Completed"})
    failed = only_failed(web)
    assert failed.code == "tracking_plan"

    again = failed_event_replay(failed_event=failed, user=admin)
    assert again.status == FailedEvent.Status.FAILED
    assert again.reason == "property 'revenue' is required"
    assert FailedEvent.objects.count() == 1  # the quarantine did not add another failed event

    source_update(source=web, tracking_plan={})
    assert failed_event_replay(failed_event=failed, user=admin).status == "replayed"
    assert Event.objects.get(source=web).name == "Order Completed"


def test_replay_of_a_single_message_endpoint_keeps_its_type(client, web, admin):
    response = collect(client, web.key, {"userId": "u-1", "properties": {}}, endpoint="track")
    assert response.status_code == 200
    failed = only_failed(web)
    assert failed.endpoint == "track"
    done = failed_event_replay(
        failed_event=failed, payload={"userId": "u-1", "event": "Clicked"}, user=admin
    )
    assert done.status == "replayed"
    assert Event.objects.get(source=web).type == "track"


def test_a_whole_batch_is_not_replayed_as_one_message(client, web, admin):
    send(client, web, {"type": "track", "userId": "u-1"})
    failed = only_failed(web)
    kept = failed_event_replay(
        failed_event=failed, payload={"batch": [{"type": "track"}]}, user=admin
    )
    assert kept.code == "not_a_message"


def test_an_unreadable_request_needs_a_corrected_payload(client, web, admin):
    response = client.post(
        "/v1/track",
        data=b'{"userId": "u-1", "event": ',
        content_type="application/json",
        headers={"Authorization": basic(web.key)},
    )
    assert response.status_code == 400
    failed = only_failed(web)
    assert failed.payload is None
    assert failed.raw.startswith('{"userId"')
    with pytest.raises(FailedEventError, match="paste the corrected message"):
        failed_event_replay(failed_event=failed, user=admin)
    done = failed_event_replay(
        failed_event=failed, payload={"userId": "u-1", "event": "Fixed"}, user=admin
    )
    assert done.status == "replayed"


def test_replay_all_revalidates_each_with_the_current_plan(client, web, admin):
    source_update(
        source=web,
        tracking_plan={"Order Completed": {"revenue": "number"}},
        tracking_plan_mode="quarantine",
    )
    send(
        client,
        web,
        {"type": "track", "userId": "u-1", "event": "Order Completed", "properties": {}},
        {"type": "track", "userId": "u-2", "event": "Order Completed", "properties": {}},
        {"type": "track", "userId": "u-3"},  # invalid whatever the plan
    )
    assert FailedEvent.objects.filter(source=web).count() == 3

    # The plan was too strict: revenue is optional after all.
    source_update(source=web, tracking_plan={"Order Completed": {}})
    result = failed_events_replay_all(source=web, user=admin)

    assert (result.replayed, result.still_failed, result.needs_payload, result.remaining) == (
        2,
        1,
        0,
        0,
    )
    assert result.summary() == "2 replayed, 1 still failing."
    assert sorted(Event.objects.values_list("user_id", flat=True)) == ["u-1", "u-2"]
    assert only_failed(web).code == "missing_event"
    again = failed_events_replay_all(source=web, user=admin)
    assert (again.replayed, again.still_failed) == (0, 1)
    assert Event.objects.count() == 2


def test_replay_all_stops_at_its_limit_and_says_what_is_left(client, web, admin):
    send(client, web, *({"type": "track", "userId": f"u-{n}"} for n in range(5)))
    result = failed_events_replay_all(source=web, user=admin, limit=2)
    assert (result.still_failed, result.remaining) == (2, 3)
    assert "3 not tried yet" in result.summary()


def test_discard_keeps_the_record(client, web, admin):
    send(client, web, {"type": "track", "userId": "u-1"})
    failed = only_failed(web)
    done = failed_event_discard(failed_event=failed)
    assert done.status == FailedEvent.Status.DISCARDED
    assert FailedEvent.objects.get().payload == {"type": "track", "userId": "u-1"}
    with pytest.raises(FailedEventError, match="already discarded"):
        failed_event_replay(failed_event=done, user=admin)
    assert failed_events_replay_all(source=web, user=admin).replayed == 0
