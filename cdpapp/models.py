import hashlib

from django.conf import settings
from django.db import models

from cdpapp.roles import CAPABILITIES


class Access(models.Model):
    """Holds the role capabilities as Django permissions; it has no table."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = list(CAPABILITIES.items())

    def __str__(self) -> str:
        return "role capabilities"


class ApiToken(models.Model):
    """A per-user API token. Only its SHA-256 digest is stored; the token is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, default="default")
    digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"

    @staticmethod
    def digest_of(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class WorkerHeartbeat(models.Model):
    """One row per worker cluster, touched by a scheduled task so /healthz can tell it is alive."""

    cluster = models.CharField(max_length=100, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.cluster} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class AuditEntry(models.Model):
    """Append-only record of sensitive changes: who, what, when, before and after.

    A database trigger (migration 0005) refuses UPDATE and DELETE on this table. (TRUNCATE stays
    possible for the test runner's flush; the application never truncates.)
    """

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    # No database constraint: rows are never updated, so a deleted user's id simply stays.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.DO_NOTHING, db_constraint=False, null=True,
        blank=True, related_name="+",
    )  # fmt: skip
    actor_name = models.CharField(max_length=150, blank=True)  # kept if the user is deleted
    action = models.CharField(max_length=60, db_index=True)  # e.g. consent.changed, user.role
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=64, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_name or 'system'} {self.action}"
