"""Reads for the platform itself: a user's role, the health of the database and the worker."""

from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError
from django.utils import timezone

from cdpapp.models import ApiToken, WorkerHeartbeat
from cdpapp.roles import Role
from profiles.selectors.identity_health import processor_backlog, processor_lag


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
