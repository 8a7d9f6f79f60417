"""Background tasks of the platform itself (django-q2)."""

from django.conf import settings

from cdpapp.services import worker_heartbeat_record


def worker_heartbeat() -> str:
    """Scheduled every minute: proves to /healthz that a worker is taking tasks."""
    beat = worker_heartbeat_record(cluster=settings.Q_CLUSTER["name"])
    return beat.beat_at.isoformat()
