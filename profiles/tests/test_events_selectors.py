"""Reads for the sources list, the debugger and the API: filters, counts and volume series."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from profiles.models import FailedEvent
from profiles.selectors.events import event_list, event_volume, failed_event_list
from profiles.selectors.sources import source_list_with_stats, source_write_keys
from profiles.services.sources import source_revoke_key, source_rotate_key
from profiles.tests.sources_helpers import make_event, make_source

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)


def failed(source, *, received_at, status=FailedEvent.Status.FAILED, code="missing_event"):
    return FailedEvent.objects.create(
        source=source,
        endpoint="batch",
        payload={"type": "track"},
        code=code,
        reason="A track message needs a non-empty string event, got null.",
        received_at=received_at,
        status=status,
    )


def test_event_filters_narrow_and_newest_comes_first():
    web, pos = make_source("Web"), make_source("POS", kind="pos")
    first = make_event(web, name="Product Viewed", user_id="u-1", received_at=NOW)
    second = make_event(
        web,
        name="Order Completed",
        user_id=None,
        anonymous_id="a-9",
        received_at=NOW + timedelta(seconds=1),
    )
    page = make_event(
        web, type="page", name="Home", user_id="u-1", received_at=NOW + timedelta(seconds=2)
    )
    other = make_event(pos, name="Order Completed", user_id="u-1", received_at=NOW)

    assert list(event_list(source_id=web.pk)) == [page, second, first]
    assert list(event_list(message_type="page")) == [page]
    assert list(event_list(name="Order Completed")) == [second, other]
    assert list(event_list(user_id="u-1", source_id=web.pk)) == [page, first]
    assert list(event_list(anonymous_id="a-9")) == [second]
    assert list(event_list(identity="a-9")) == [second]
    assert set(event_list(identity="u-1")) == {first, page, other}
    assert list(event_list(message_id=first.message_id)) == [first]
    assert list(event_list(since=NOW + timedelta(seconds=1), until=NOW + timedelta(seconds=2))) == [
        second
    ]
    assert list(event_list(source_id=web.pk, after_id=second.pk)) == [page]


def test_failed_event_filters():
    web = make_source("Web")
    old = failed(web, received_at=NOW - timedelta(hours=1))
    plan = failed(web, received_at=NOW, code="tracking_plan")
    done = failed(web, received_at=NOW, status=FailedEvent.Status.REPLAYED)
    assert list(failed_event_list(source_id=web.pk)) == [done, plan, old]
    assert list(failed_event_list(code="tracking_plan")) == [plan]
    assert list(failed_event_list(status="failed")) == [plan, old]
    assert list(failed_event_list(status="failed", after_id=old.pk)) == [plan]


def test_source_list_counts_in_one_query(django_assert_num_queries):
    web, pos, crm = (
        make_source("Web"),
        make_source("POS", kind="pos"),
        make_source("CRM", kind="crm"),
    )
    now = timezone.now()
    for minutes in (1, 30, 60 * 23):
        make_event(web, received_at=now - timedelta(minutes=minutes))
    make_event(web, received_at=now - timedelta(hours=25))  # too old for the 24 h count
    make_event(pos, received_at=now - timedelta(hours=2))
    failed(web, received_at=now)
    failed(web, received_at=now, status=FailedEvent.Status.REPLAYED)
    failed(crm, received_at=now - timedelta(days=3))

    with django_assert_num_queries(1):
        rows = {
            source.name: (source.events_24h, source.failed_open, source.last_event_at)
            for source in source_list_with_stats()
        }
    assert rows["Web"][:2] == (3, 1)
    assert rows["Web"][2] == now - timedelta(minutes=1)
    assert rows["POS"][:2] == (1, 0)
    assert rows["CRM"] == (0, 1, None)
    assert list(rows) == ["CRM", "POS", "Web"]


def test_hourly_volume_has_24_buckets_with_events_and_failures():
    web, other = make_source("Web"), make_source("Other", kind="server")
    make_event(web, received_at=NOW.replace(minute=5))  # this hour
    make_event(web, received_at=NOW.replace(minute=59, hour=13))  # the hour before
    make_event(web, received_at=NOW.replace(minute=0, hour=10))
    make_event(web, received_at=NOW.replace(minute=1, hour=10))
    make_event(web, received_at=NOW - timedelta(hours=24, minutes=31))  # before the window
    make_event(other, received_at=NOW)  # another source
    failed(web, received_at=NOW.replace(minute=10))
    failed(web, received_at=NOW.replace(minute=12), status=FailedEvent.Status.REPLAYED)

    series = event_volume(source=web, unit="hour", now=NOW)

    assert len(series) == 24
    assert series[0].at == datetime(2026, 3, 9, 15, tzinfo=UTC)
    assert series[-1].at == datetime(2026, 3, 10, 14, tzinfo=UTC)
    by_hour = {point.at.hour: (point.events, point.failed) for point in series}
    assert by_hour[14] == (1, 2)  # failed events count when they arrived, replayed or not
    assert by_hour[13] == (1, 0)
    assert by_hour[10] == (2, 0)
    assert sum(point.events for point in series) == 4
    assert sum(point.failed for point in series) == 2


def test_daily_volume_has_30_buckets():
    web = make_source("Web")
    make_event(web, received_at=NOW)
    make_event(web, received_at=NOW - timedelta(days=1))
    make_event(web, received_at=NOW - timedelta(days=29))
    make_event(web, received_at=NOW - timedelta(days=30))  # outside
    failed(web, received_at=NOW - timedelta(days=3))

    series = event_volume(source=web, unit="day", now=NOW)

    assert len(series) == 30
    assert series[0].at == datetime(2026, 2, 9, tzinfo=UTC)
    assert series[-1].at == datetime(2026, 3, 10, tzinfo=UTC)
    assert [point.events for point in series if point.events] == [1, 1, 1]
    assert series[-4].failed == 1
    assert sum(point.events for point in series) == 3


def test_write_keys_carry_their_state():
    web = make_source("Web")
    first = web.write_keys.get()
    source_rotate_key(source=web, grace=timedelta(hours=1))
    newest = source_write_keys(web)[0]
    assert [key.state for key in source_write_keys(web)] == ["live", "expiring"]
    source_revoke_key(write_key=newest)
    assert [key.state for key in source_write_keys(web)] == ["revoked", "expiring"]
    states = source_write_keys(web, now=timezone.now() + timedelta(hours=2))
    assert [(key.pk, key.state) for key in states][-1] == (first.pk, "expired")
