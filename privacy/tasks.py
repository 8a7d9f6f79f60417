"""Background tasks of the privacy app (django-q2)."""

from privacy.services.retention import retention_run


def run_retention() -> dict:
    """Scheduled daily: apply the enabled retention policies."""
    done = retention_run()
    return {"events": sum(done.events.values()), "profiles": done.profiles}
