from django.conf import settings
from django.db import models


class Segment(models.Model):
    """A named audience, defined by a versioned JSON definition (segments/domain/definition.py)."""

    class Refresh(models.TextChoices):
        REALTIME = "realtime", "Real time (seconds), time windows hourly"
        SCHEDULED = "scheduled", "On a schedule only"

    class Status(models.TextChoices):
        READY = "ready", "Ready"
        REFRESHING = "refreshing", "Refreshing"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    definition = models.JSONField()
    definition_version = models.PositiveIntegerField(default=1)
    refresh = models.CharField(max_length=10, choices=Refresh.choices, default=Refresh.REALTIME)
    refresh_minutes = models.PositiveIntegerField(
        default=60, help_text="How often time-relative conditions are recomputed."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.READY)
    last_error = models.TextField(blank=True)
    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    size = models.PositiveIntegerField(default=0)
    archived = models.BooleanField(default=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentVersion(models.Model):
    """Each saved definition, with its member diff against the previous version."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    definition = models.JSONField()
    saved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    saved_at = models.DateTimeField(auto_now_add=True)
    size = models.PositiveIntegerField(null=True, blank=True)
    entered = models.PositiveIntegerField(null=True, blank=True)
    exited = models.PositiveIntegerField(null=True, blank=True)
    sample_entered = models.JSONField(default=list, blank=True)
    sample_exited = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["segment", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "version"], name="segment_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.segment} v{self.version}"


class Membership(models.Model):
    """One stint of a profile in a segment: open while exited_at is null."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.CASCADE, related_name="memberships"
    )
    entered_at = models.DateTimeField()
    exited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "profile"],
                condition=models.Q(exited_at__isnull=True),
                name="membership_one_open_stint",
            )
        ]
        indexes = [
            models.Index(fields=["segment", "entered_at"], name="membership_segment_entered"),
            models.Index(fields=["profile", "segment"], name="membership_profile"),
        ]

    def __str__(self) -> str:
        return f"{self.profile_id} in {self.segment_id} since {self.entered_at:%Y-%m-%d}"


class SegmentSnapshot(models.Model):
    """The size of a segment at a point in time."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="snapshots")
    at = models.DateTimeField()
    size = models.PositiveIntegerField()
    entered = models.PositiveIntegerField(default=0)
    exited = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["segment", "at"], name="snapshot_segment_at")]

    def __str__(self) -> str:
        return f"{self.segment_id} @ {self.at:%Y-%m-%d %H:%M}: {self.size}"
