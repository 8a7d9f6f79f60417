"""Identity health selectors, each with known data."""

from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from profiles.models import Event, Identity, MergeEntry
from profiles.selectors.identity_health import (
    events_without_profile,
    junk_identifiers,
    match_rate,
    mega_profiles,
    merge_rate,
    processor_backlog,
    processor_lag,
    profile_completeness,
)
from profiles.services.processing import events_process_pending
from profiles.services.sources import source_create
from tests.collect import send

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(db):
    return source_create(name="Web", kind="website")[1]


def profile_of(value: str) -> int:
    return Identity.objects.get(value=value).profile_id


def test_mega_profile_alert_fires_above_the_threshold(key, monkeypatch):
    # One user seen on 30 browsers: 31 identifiers on one profile.
    send(key, *({"type": "identify", "userId": "u-big", "anonymousId": f"a{n}"} for n in range(30)))
    send(key, {"type": "identify", "userId": "u-small", "anonymousId": "b1"})
    events_process_pending()
    big = profile_of("u-big")
    monkeypatch.setenv("IDENTITY_MEGA_THRESHOLD", "25")
    found = mega_profiles()
    assert (found.threshold, found.count, found.top) == (25, 1, [(big, 31)])
    assert mega_profiles(threshold=31).count == 0
    monkeypatch.setenv("IDENTITY_MEGA_THRESHOLD", "1")
    assert mega_profiles().top == [(big, 31), (profile_of("u-small"), 2)]


def _merges(key, count: int, prefix: str) -> None:
    """`count` automatic merges: an anonymous visitor, then the same visitor identifying."""
    for n in range(count):
        send(key, {"type": "track", "anonymousId": f"{prefix}{n}", "event": "Viewed"})
        send(key, {"type": "track", "userId": f"u-{prefix}{n}", "event": "Viewed"})
    events_process_pending()
    send(
        key,
        *(
            {"type": "identify", "userId": f"u-{prefix}{n}", "anonymousId": f"{prefix}{n}"}
            for n in range(count)
        ),
    )
    events_process_pending()


def test_merge_rate_spike(key):
    _merges(key, 20, "x")
    rate = merge_rate()
    assert (rate.last_hour, rate.hourly_average, rate.spike) == (20, 0, True)
    # The same 20 merges spread over the past week make a baseline of 20 / 168 per hour.
    MergeEntry.objects.filter(kind="merge").update(at=timezone.now() - timedelta(days=2))
    _merges(key, 19, "y")
    rate = merge_rate()
    assert (rate.last_hour, rate.hourly_average, rate.spike) == (19, 0.12, False)


def test_no_spike_when_the_week_was_as_busy(key):
    _merges(key, 1, "x")
    survivor = profile_of("u-x0")
    # Ten merges an hour in the week before the last hour (the merge above is one of them).
    week_ago = timezone.now() - timedelta(days=7, hours=1)
    MergeEntry.objects.filter(kind="merge").update(at=week_ago + timedelta(minutes=1))
    MergeEntry.objects.bulk_create(
        MergeEntry(
            kind="merge",
            survivor_id=survivor,
            reason="shared_identifier",
            at=week_ago + timedelta(minutes=6 * n + 3),
        )
        for n in range(1679)
    )
    _merges(key, 25, "y")
    rate = merge_rate()
    assert (rate.last_hour, rate.hourly_average, rate.spike) == (25, 10, False)
    _merges(key, 6, "z")
    assert (merge_rate().last_hour, merge_rate().spike) == (31, True)


def test_recurring_junk_identifiers(key):
    send(key, *({"type": "track", "anonymousId": "anonymous", "event": "x"} for _ in range(12)))
    send(key, {"type": "identify", "userId": "null", "anonymousId": "a1"})
    events_process_pending()
    assert [(j.id_type, j.value, j.count) for j in junk_identifiers()] == [
        ("anonymous_id", "anonymous", 12),
        ("user_id", "null", 1),
    ]


def test_match_rate_and_events_without_a_profile(key):
    send(
        key,
        {"type": "page", "anonymousId": "visitor-1"},
        {"type": "page", "anonymousId": "visitor-2", "context": {"device": {"id": "d-2"}}},
        {"type": "identify", "anonymousId": "visitor-3", "traits": {"email": "c@x.com"}},
        {"type": "identify", "userId": "u-4"},
        {"type": "page", "anonymousId": "anonymous"},  # junk: no profile
    )
    events_process_pending()
    assert (match_rate().part, match_rate().total) == (2, 4)
    assert match_rate().ratio == 0.5
    without = events_without_profile()
    assert (without.part, without.total) == (1, 5)
    # A window of 24 hours: older events no longer count.
    Event.objects.filter(anonymous_id="anonymous").update(
        processed_at=timezone.now() - timedelta(hours=25)
    )
    without = events_without_profile()
    assert (without.part, without.total) == (0, 4)


def test_profile_completeness(key):
    send(
        key,
        {
            "type": "identify",
            "userId": "u-full",
            "traits": {
                "email": "full@x.com",
                "phone": "07700 900123",
                "firstName": "Ada",
                "address": {"city": "Leeds"},
                "birthday": "1990-01-02",
            },
        },
        {"type": "identify", "userId": "u-half", "traits": {"email": "half@x.com", "name": "B"}},
        {"type": "identify", "userId": "u-none", "traits": {"address": {}}},
    )
    events_process_pending()
    shares = profile_completeness()
    assert {name: (s.part, s.total) for name, s in shares.items()} == {
        "email": (2, 3),
        "phone": (1, 3),
        "name": (2, 3),
        "address": (1, 3),
        "birthday": (1, 3),
        "all": (1, 3),
    }


def test_processor_lag_percentiles_and_backlog(key):
    send(key, *({"type": "track", "anonymousId": f"a{n}", "event": "x"} for n in range(4)))
    events_process_pending()
    now = timezone.now()
    with connection.cursor() as cursor:  # known lags of 1, 2, 3 and 4 seconds
        cursor.execute(
            "UPDATE profiles_event SET processed_at = %s, "
            "received_at = %s - make_interval(secs => substring(anonymous_id, 2)::int + 1)",
            [now, now],
        )
    lag = processor_lag()
    assert (lag.p50_seconds, lag.p95_seconds, lag.events) == (2.5, 3.85, 4)
    # Only the latest are measured: the two processed last (lags 3 and 4 seconds).
    Event.objects.filter(anonymous_id__in=["a0", "a1"]).update(
        processed_at=now - timedelta(minutes=1)
    )
    assert processor_lag(sample=2) == type(lag)(3.5, 3.95, 2)
    Event.objects.update(processed_at=now - timedelta(hours=2))
    assert processor_lag() == type(lag)(None, None, 0)

    assert processor_backlog().events == 0
    assert processor_backlog().oldest_seconds is None
    send(key, {"type": "track", "anonymousId": "late", "event": "x"})
    Event.objects.filter(processed_at__isnull=True).update(received_at=now - timedelta(minutes=5))
    backlog = processor_backlog()
    assert backlog.events == 1
    assert 299 <= backlog.oldest_seconds < 330
