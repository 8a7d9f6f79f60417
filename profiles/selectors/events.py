"""Reads about collected events and failed events: filtered lists and volume series."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import Trunc
from django.utils import timezone

from profiles.models import Event, FailedEvent, Source

Unit = Literal["hour", "day"]
# How many buckets each series covers, the current (partial) one included.
SPANS: dict[str, int] = {"hour": 24, "day": 30}


def event_list(
    *,
    source_id: int | None = None,
    message_type: str | None = None,
    name: str | None = None,
    user_id: str | None = None,
    anonymous_id: str | None = None,
    identity: str | None = None,
    message_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_id: int | None = None,
) -> QuerySet[Event]:
    """Collected events, newest first, narrowed by any of the given filters.

    `identity` matches either the userId or the anonymousId; `after_id` keeps only events stored
    after the one with that id (what a live view has not shown yet).
    """
    events = Event.objects.all()
    if source_id is not None:
        events = events.filter(source_id=source_id)
    if message_type:
        events = events.filter(type=message_type)
    if name:
        events = events.filter(name=name)
    if user_id:
        events = events.filter(user_id=user_id)
    if anonymous_id:
        events = events.filter(anonymous_id=anonymous_id)
    if identity:
        events = events.filter(Q(user_id=identity) | Q(anonymous_id=identity))
    if message_id:
        events = events.filter(message_id=message_id)
    if since is not None:
        events = events.filter(received_at__gte=since)
    if until is not None:
        events = events.filter(received_at__lt=until)
    if after_id is not None:
        events = events.filter(pk__gt=after_id)
    return events.order_by("-received_at", "-pk")


def failed_event_list(
    *,
    source_id: int | None = None,
    code: str | None = None,
    status: str | None = None,
    after_id: int | None = None,
) -> QuerySet[FailedEvent]:
    """Failed events, newest first, narrowed by source, code, status or `after_id`."""
    failed = FailedEvent.objects.select_related("replayed_by")
    if source_id is not None:
        failed = failed.filter(source_id=source_id)
    if code:
        failed = failed.filter(code=code)
    if status:
        failed = failed.filter(status=status)
    if after_id is not None:
        failed = failed.filter(pk__gt=after_id)
    return failed.order_by("-received_at", "-pk")


def failed_event_codes(*, source_id: int) -> list[str]:
    """The distinct failure codes seen on a source, for a filter menu."""
    return list(
        FailedEvent.objects.filter(source_id=source_id)
        .order_by("code")
        .values_list("code", flat=True)
        .distinct()
    )


@dataclass(frozen=True)
class VolumePoint:
    at: datetime  # start of the bucket, UTC
    events: int
    failed: int


def _counts(queryset: QuerySet, unit: Unit, start: datetime) -> dict[datetime, int]:
    """One GROUP BY date_trunc(unit, received_at) query: {bucket start: rows}."""
    rows = (
        queryset.filter(received_at__gte=start)
        .annotate(bucket=Trunc("received_at", unit, tzinfo=UTC))
        .order_by()
        .values("bucket")
        .annotate(n=Count("pk"))
        .values_list("bucket", "n")
    )
    return dict(rows)


def event_volume(*, source: Source, unit: Unit, now: datetime | None = None) -> list[VolumePoint]:
    """Events and failed events received per hour (last 24 h) or per day (last 30 days).

    Every bucket is present, empty ones with zeros. Failed events count when they arrived,
    whatever became of them later.
    """
    now = (now or timezone.now()).astimezone(UTC)
    step = timedelta(hours=1) if unit == "hour" else timedelta(days=1)
    current = now.replace(minute=0, second=0, microsecond=0)
    if unit == "day":
        current = current.replace(hour=0)
    start = current - step * (SPANS[unit] - 1)
    events = _counts(Event.objects.filter(source=source), unit, start)
    failed = _counts(FailedEvent.objects.filter(source=source), unit, start)
    buckets = [start + step * i for i in range(SPANS[unit])]
    return [VolumePoint(at, events.get(at, 0), failed.get(at, 0)) for at in buckets]
