"""Reads for the platform itself: a user's role, the health of the database and the worker,
the home page's figures."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Count, Q, QuerySet
from django.db.utils import DatabaseError
from django.urls import reverse
from django.utils import timezone

from cdpapp.models import ApiToken, WorkerHeartbeat
from cdpapp.roles import Role, role_allows
from privacy.selectors import consent_conflicts_list, requests_overdue
from privacy.selectors_admin import requests_open
from profiles.models import FailedEvent, MatchCandidate, Profile
from profiles.selectors.identity_health import processor_backlog, processor_lag
from profiles.selectors.matching import candidate_list
from segments.models import Segment
from segments.selectors import segment_list


def user_role(user) -> Role | None:
    """The role of `user` (superusers count as admins), or None."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    names = {role.group_name: role for role in Role}
    for group in user.groups.all():
        if group.name in names:
            return names[group.name]
    return None


def api_token_user(token: str):
    """The active user behind an API token, or None."""
    found = (
        ApiToken.objects.select_related("user")
        .filter(digest=ApiToken.digest_of(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if found is None:
        return None
    ApiToken.objects.filter(pk=found.pk).update(last_used_at=timezone.now())
    return found.user


@dataclass(frozen=True)
class Health:
    database: str
    worker_heartbeat_age_seconds: float | None
    worker_alive: bool
    queue_depth: int | None
    # Informational: lag (received -> processed) p50/p95 over the last hour and the backlog.
    processor: dict | None = None

    @property
    def healthy(self) -> bool:
        return self.database == "ok" and self.worker_alive

    def as_dict(self) -> dict:
        return {
            "status": "ok" if self.healthy else "unhealthy",
            "database": self.database,
            "worker": {
                "alive": self.worker_alive,
                "last_heartbeat_age_seconds": self.worker_heartbeat_age_seconds,
            },
            "queue_depth": self.queue_depth,
            "processor": self.processor,
        }


def health_status() -> Health:
    """Database reachability, the newest worker heartbeat's age and the task queue depth."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        return Health(f"error: {type(exc).__name__}", None, False, None)
    newest = WorkerHeartbeat.objects.order_by("-beat_at").values_list("beat_at", flat=True).first()
    age = (timezone.now() - newest).total_seconds() if newest else None
    alive = age is not None and age <= settings.WORKER_HEARTBEAT_MAX_AGE_SECONDS
    from django_q.brokers import get_broker

    try:
        depth = get_broker().queue_size()
    except Exception:  # a broker outage must show as unhealthy, not crash the check
        depth = None
    return Health(
        "ok",
        round(age, 1) if age is not None else None,
        alive and depth is not None,
        depth,
        _processor_status(),
    )


def _processor_status() -> dict:
    lag, backlog = processor_lag(), processor_backlog()
    return {
        "lag_p50_seconds": lag.p50_seconds,
        "lag_p95_seconds": lag.p95_seconds,
        "lag_events": lag.events,
        "backlog": backlog.events,
        "oldest_waiting_seconds": backlog.oldest_seconds,
    }


def user_list():
    """All users with their groups, for the users page."""
    from django.contrib.auth import get_user_model

    users = get_user_model().objects.prefetch_related("groups").order_by("username")
    return [{"user": user, "role": user_role(user)} for user in users]


# --- The home page's figures ---------------------------------------------------------------------

# Counting stops here and the tile says "100,000+": a count walks every row it counts (about
# 30 ms per 100k index entries, measured), so the page costs the same at any volume. All the
# figures of an admin took 34 ms on 2M events (1M of them in the last day), 200k profiles and
# 100k match candidates, each query on the index named beside it (EXPLAIN ANALYZE).
COUNT_CAP = 100_000
PROFILES_CAP = 1_000_000  # the headline figure: exact further, about 0.15 s at the cap
# A p95 lag (received -> processed) or a wait of the oldest unprocessed event above this is late:
# the processor normally keeps up within a second or two.
LAG_ATTENTION_SECONDS = 60.0

# Events received since %(since)s, at most %(limit)s: event_source_received (source_id,
# received_at DESC) gives each source's newest events as one short index range, read newest first
# and stopped at the limit (an index-only scan: 28 ms for 100k of 1M events in a day, measured).
# There is no index on received_at alone, and the table is the largest we have.
_EVENTS_RECEIVED_SINCE = (
    "SELECT count(*) FROM (SELECT 1 FROM profiles_source source CROSS JOIN LATERAL ("
    "SELECT 1 FROM profiles_event event WHERE event.source_id = source.id "
    "AND event.received_at >= %(since)s ORDER BY event.received_at DESC LIMIT %(limit)s) newest "
    "LIMIT %(limit)s) bounded"
)


@dataclass(frozen=True)
class Figure:
    """One tile of the home page: a number, what it counts, and where to act on it."""

    key: str  # stable: the tile's id
    label: str
    value: float | None  # None: nothing to measure
    url: str | None = None
    detail: str = ""
    attention: bool = False  # something waits for someone
    capped: bool = False  # counting stopped at `value`: there are more
    unit: str = ""  # "s": a duration in seconds

    @property
    def display(self) -> str:
        if self.value is None:
            return "—"
        if self.unit == "s":
            return _duration(self.value)
        return f"{self.value:,}{'+' if self.capped else ''}"


def _duration(seconds: float) -> str:
    # A lag can come out a little below zero: received_at is the web process's clock, processed_at
    # the database's.
    seconds = max(seconds, 0.0)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.0f} h"


def _bounded_count(queryset: QuerySet, cap: int) -> tuple[int, bool]:
    """How many rows `queryset` has, at most `cap`, and whether there are more."""
    found = queryset.order_by()[: cap + 1].count()  # COUNT(*) over a LIMIT subquery
    return min(found, cap), found > cap


def _plural(count: int, one: str, many: str) -> str:
    return f"{count:,} {one if count == 1 else many}"


def home_figures(role: Role | None) -> list[Figure]:
    """The home page's figures `role` may see, in a fixed order, each with where to act."""
    if role is None:
        return []

    def may(capability: str) -> bool:
        return role_allows(role, capability)

    figures: list[Figure] = []
    since = timezone.now() - timedelta(hours=24)
    sources_url = reverse("profiles:source-list") if may("manage_sources") else None

    if may("view_profiles"):
        # Index only, on the merged_into foreign key's index (IS NULL) or profile_active.
        profiles, capped = _bounded_count(
            Profile.objects.filter(merged_into__isnull=True), PROFILES_CAP
        )
        figures.append(
            Figure(
                "profiles", "Active profiles", profiles, reverse("profiles:index"), capped=capped
            )
        )
        with connection.cursor() as cursor:
            cursor.execute(_EVENTS_RECEIVED_SINCE, {"since": since, "limit": COUNT_CAP + 1})
            events = cursor.fetchone()[0]
        figures.append(
            Figure(
                "events",
                "Events received, last 24 h",
                min(events, COUNT_CAP),
                sources_url,
                capped=events > COUNT_CAP,
            )
        )
        # event_processed (the latest 10k of the last hour) and event_unprocessed (partial).
        lag, backlog = processor_lag(), processor_backlog()
        late = max(lag.p95_seconds or 0, backlog.oldest_seconds or 0) > LAG_ATTENTION_SECONDS
        waiting = _plural(backlog.events, "event waiting", "events waiting")
        if backlog.oldest_seconds is not None:
            waiting += f", the oldest for {_duration(backlog.oldest_seconds)}"
        figures.append(
            Figure(
                "processing",
                "Processing lag, p95 of the last hour",
                lag.p95_seconds,
                reverse("profiles:identity-health") if may("manage_identity") else None,
                detail=waiting if backlog.events else "Nothing waiting to be processed",
                attention=late,
                unit="s",
            )
        )

    if may("view_segments"):
        # Segments are counted in tens or hundreds: a scan of the table is the cheapest plan.
        counts = (
            segment_list(archived=False)
            .order_by()
            .aggregate(live=Count("pk"), failed=Count("pk", filter=Q(status=Segment.Status.FAILED)))
        )
        failed = counts["failed"]
        figures.append(
            Figure(
                "segments",
                "Live segments",
                counts["live"],
                reverse("segments:index"),
                detail=f"{failed:,} failed to refresh" if failed else "No failed refresh",
                attention=failed > 0,
            )
        )

    if may("manage_identity"):
        # candidate_status_score (status, -score), or a scan when most candidates are pending.
        pending, capped = _bounded_count(
            candidate_list(status=MatchCandidate.Status.PENDING), COUNT_CAP
        )
        figures.append(
            Figure(
                "reviews",
                "Possible duplicates to review",
                pending,
                reverse("profiles:matching-queue"),
                attention=pending > 0,
                capped=capped,
            )
        )

    if may("manage_consent"):
        # conflict_status (status, -detected_at).
        conflicts, capped = _bounded_count(consent_conflicts_list(status="open"), COUNT_CAP)
        figures.append(
            Figure(
                "consent_conflicts",
                "Open consent conflicts",
                conflicts,
                reverse("privacy:consent-conflicts"),
                attention=conflicts > 0,
                capped=capped,
            )
        )

    if may("manage_privacy"):
        # dsr_status_due (status, due_at); open requests are few: the law gives each a month.
        opened, overdue = requests_open().count(), requests_overdue().count()
        figures.append(
            Figure(
                "requests",
                "Open data-subject requests",
                opened,
                reverse("privacy:requests") + "?status=open",
                detail=f"{overdue:,} overdue" if overdue else "None overdue",
                attention=overdue > 0,
            )
        )

    if may("manage_sources"):
        # failed_source (source, status, -received_at): PostgreSQL 18 skips over the sources.
        failed, capped = _bounded_count(
            FailedEvent.objects.filter(status=FailedEvent.Status.FAILED, received_at__gte=since),
            COUNT_CAP,
        )
        figures.append(
            Figure(
                "failed_events",
                "Failed events, last 24 h",
                failed,
                sources_url,
                detail="Waiting to be replayed or discarded" if failed else "",
                attention=failed > 0,
                capped=capped,
            )
        )
    return figures
