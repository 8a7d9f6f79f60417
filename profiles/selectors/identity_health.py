"""Identity health: alerts (mega-profiles, merge-rate spikes, recurring junk identifiers) and
metrics (match rate, completeness, events without a profile, processor lag and backlog).

One query per metric, so the dashboards can chart each one on its own.
"""

import os
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from profiles.models import JunkIdentifier

# Identifiers that say nothing about who someone is: a profile with only these is not matched.
ANONYMOUS_TYPES = ("anonymous_id", "device_id")
SPIKE_FACTOR = 3
SPIKE_MINIMUM = 20
JUNK_ALERT_COUNT = 10
LAG_SAMPLE = 10_000
# Profile fields counted by completeness: name -> SQL condition on profiles_profile p.
COMPLETENESS_FIELDS = {
    "email": "p.traits ->> 'email' <> '' OR EXISTS (SELECT 1 FROM profiles_identity i "
    "WHERE i.profile_id = p.id AND i.id_type = 'email')",
    "phone": "p.traits ->> 'phone' <> '' OR EXISTS (SELECT 1 FROM profiles_identity i "
    "WHERE i.profile_id = p.id AND i.id_type = 'phone')",
    "name": "coalesce(p.traits ->> 'firstName', p.traits ->> 'first_name', p.traits ->> 'name', "
    "'') <> ''",
    "address": "coalesce(p.traits ->> 'address', '') NOT IN ('', '{}')",
    "birthday": "coalesce(p.traits ->> 'birthday', '') <> ''",
}


def mega_threshold() -> int:
    """More identifiers than this make a mega-profile (IDENTITY_MEGA_THRESHOLD, default 25)."""
    return int(os.environ.get("IDENTITY_MEGA_THRESHOLD", "25"))


@dataclass(frozen=True)
class MegaProfiles:
    threshold: int
    count: int  # profiles above the threshold
    top: list[tuple[int, int]]  # (profile id, identifiers), largest first


def mega_profiles(*, threshold: int | None = None, limit: int = 20) -> MegaProfiles:
    """Profiles holding more identifiers than the threshold."""
    threshold = mega_threshold() if threshold is None else threshold
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT profile_id, count(*) AS n, count(*) OVER () FROM profiles_identity "
            "GROUP BY profile_id HAVING count(*) > %s ORDER BY n DESC, profile_id LIMIT %s",
            [threshold, limit],
        )
        rows = cursor.fetchall()
    return MegaProfiles(threshold, rows[0][2] if rows else 0, [(p, n) for p, n, _ in rows])


@dataclass(frozen=True)
class MergeRate:
    last_hour: int
    hourly_average: float  # over the 7 days before the last hour

    @property
    def spike(self) -> bool:
        return (
            self.last_hour >= SPIKE_MINIMUM and self.last_hour > SPIKE_FACTOR * self.hourly_average
        )


def merge_rate() -> MergeRate:
    """Automatic and manual merges in the last hour against the hourly average of the week."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE at >= now() - interval '1 hour'), "
            "count(*) FILTER (WHERE at < now() - interval '1 hour') "
            "FROM profiles_mergeentry "
            "WHERE kind = 'merge' AND at >= now() - interval '7 days 1 hour'"
        )
        last_hour, week = cursor.fetchone()
    return MergeRate(last_hour, round(week / (7 * 24), 2))


@dataclass(frozen=True)
class Junk:
    id_type: str
    value: str
    count: int
    last_seen: datetime

    @property
    def alert(self) -> bool:
        return self.count >= JUNK_ALERT_COUNT


def junk_identifiers(*, limit: int = 10) -> list[Junk]:
    """The blocked identifier values seen most often (an alert from JUNK_ALERT_COUNT times)."""
    found = JunkIdentifier.objects.order_by("-count", "id_type", "value")[:limit]
    return [Junk(j.id_type, j.value, j.count, j.last_seen) for j in found]


@dataclass(frozen=True)
class Share:
    part: int
    total: int

    @property
    def ratio(self) -> float | None:
        return self.part / self.total if self.total else None


def match_rate() -> Share:
    """Active profiles holding at least one identifier other than an anonymous or device id."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE EXISTS (SELECT 1 FROM profiles_identity i "
            "WHERE i.profile_id = p.id AND NOT i.id_type = ANY(%s))), count(*) "
            "FROM profiles_profile p WHERE p.merged_into_id IS NULL",
            [list(ANONYMOUS_TYPES)],
        )
        return Share(*cursor.fetchone())


def profile_completeness() -> dict[str, Share]:
    """Per field (email, phone, name, address, birthday, all of them): active profiles having it."""
    counts = ", ".join(f"count(*) FILTER (WHERE {sql})" for sql in COMPLETENESS_FIELDS.values())
    every = " AND ".join(f"({sql})" for sql in COMPLETENESS_FIELDS.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), {counts}, count(*) FILTER (WHERE {every}) "  # noqa: S608
            "FROM profiles_profile p WHERE p.merged_into_id IS NULL"
        )
        total, *parts = cursor.fetchone()
    names = [*COMPLETENESS_FIELDS, "all"]
    return {name: Share(part, total) for name, part in zip(names, parts, strict=True)}


def events_without_profile() -> Share:
    """Events processed in the last 24 hours that carried no usable identifier (no profile)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE profile_id IS NULL), count(*) FROM profiles_event "
            "WHERE processed_at >= now() - interval '24 hours'"
        )
        return Share(*cursor.fetchone())


@dataclass(frozen=True)
class ProcessorLag:
    p50_seconds: float | None  # received -> processed
    p95_seconds: float | None
    events: int  # the events measured: the latest of the last hour, at most LAG_SAMPLE


def processor_lag(*, sample: int = LAG_SAMPLE) -> ProcessorLag:
    """Lag percentiles (percentile_cont) of the latest events processed in the last hour.

    At most `sample` of them, read from the processed_at index, so /healthz stays cheap however
    many events an hour brings (all of a million took 0.8 s).
    """
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(ARRAY[0.5, 0.95]) WITHIN GROUP (ORDER BY lag), count(*) "
            "FROM (SELECT extract(epoch FROM processed_at - received_at) AS lag "
            "FROM profiles_event WHERE processed_at >= now() - interval '1 hour' "
            "ORDER BY processed_at DESC LIMIT %s) AS latest",
            [sample],
        )
        percentiles, events = cursor.fetchone()
    p50, p95 = (round(float(v), 3) for v in percentiles) if percentiles else (None, None)
    return ProcessorLag(p50, p95, events)


@dataclass(frozen=True)
class Backlog:
    events: int  # waiting to be processed
    oldest_seconds: float | None  # how long the oldest has waited


def processor_backlog() -> Backlog:
    """Unprocessed events and the age of the oldest (the partial index answers it)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*), extract(epoch FROM clock_timestamp() - min(received_at)) "
            "FROM profiles_event "
            "WHERE processed_at IS NULL"
        )
        events, oldest = cursor.fetchone()
    return Backlog(events, round(float(oldest), 1) if oldest is not None else None)
