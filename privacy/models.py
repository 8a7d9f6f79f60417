"""Purposes, suppression of erased people, data-subject requests and retention policies.

Consent decisions themselves are events (a "Consent Updated" track call, or any message with
context.consent.categoryPreferences): one append-only log, whatever the channel (collection API,
consent API, file import, admin UI, preference centre). The processor folds them into
Profile.consent, the current state the enforcement service reads.
"""

from django.conf import settings
from django.db import models


class Purpose(models.Model):
    """Why data is used (email marketing, SMS, advertising...), with a versioned description."""

    class Default(models.TextChoices):
        OPT_IN = "opt_in", "Opt-in (no consent means no)"
        OPT_OUT = "opt_out", "Opt-out (allowed unless refused)"

    slug = models.SlugField(max_length=50, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField()
    version = models.PositiveIntegerField(default=1)
    defaults = models.JSONField(
        default=dict,
        blank=True,
        help_text='Per region: {"EU": "opt_in", "US": "opt_out", "*": ...}',
    )
    validity_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="A grant expires after this many days (empty: never)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PurposeVersion(models.Model):
    """The text of a purpose as it was shown to people, version by version."""

    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    description = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["purpose", "version"], name="purpose_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.purpose.slug} v{self.version}"


class Suppression(models.Model):
    """An erased identifier, kept only as a keyed one-way hash; data re-collected for it is
    dropped."""

    digest = models.CharField(max_length=64, unique=True)
    id_type = models.CharField(max_length=40)
    request = models.ForeignKey(
        "DataSubjectRequest", on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.id_type}:{self.digest[:12]}…"


class SuppressedCount(models.Model):
    """How many incoming messages were dropped because they named an erased person, per day."""

    day = models.DateField(unique=True)
    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.day}: {self.count}"


class DataSubjectRequest(models.Model):
    """A person's request to see (access) or erase their data, with its deadline and its steps."""

    class Kind(models.TextChoices):
        ACCESS = "access", "Access (export)"
        ERASURE = "erasure", "Erasure"

    class Regulation(models.TextChoices):
        GDPR = "gdpr", "GDPR (30 days)"
        CCPA = "ccpa", "CCPA (45 days)"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        REJECTED = "rejected", "Rejected"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    regulation = models.CharField(max_length=4, choices=Regulation.choices, default="gdpr")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    subject_type = models.CharField(max_length=40)  # the identifier type used to find the person
    subject_value = models.CharField(max_length=255, blank=True)  # cleared after an erasure
    subject_digest = models.CharField(max_length=64)
    profile = models.ForeignKey(
        "profiles.Profile", on_delete=models.SET_NULL, null=True, blank=True
    )
    requested_at = models.DateTimeField()
    due_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    export = models.JSONField(null=True, blank=True)  # the access export, downloadable
    rejection_reason = models.TextField(blank=True)  # why it was rejected; cleared on erasure
    steps = models.JSONField(default=list, blank=True)  # [{"at", "step", "detail"}]
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ["-requested_at"]
        indexes = [models.Index(fields=["status", "due_at"], name="dsr_status_due")]

    def __str__(self) -> str:
        return f"{self.kind} request {self.pk} ({self.status})"


class RetentionPolicy(models.Model):
    """How long raw events of a source are kept; the global row (no source) purges inactive
    profiles."""

    source = models.OneToOneField(
        "profiles.Source", on_delete=models.CASCADE, null=True, blank=True,
        related_name="retention",
    )  # fmt: skip
    raw_event_days = models.PositiveIntegerField(null=True, blank=True)
    inactive_profile_days = models.PositiveIntegerField(null=True, blank=True)
    enabled = models.BooleanField(default=False)
    last_run_at = models.DateTimeField(null=True, blank=True)
    last_deleted = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["source"], condition=models.Q(source__isnull=True), name="one_global_policy"
            )
        ]

    def __str__(self) -> str:
        return f"retention for {self.source or 'all profiles'}"


class ConsentConflict(models.Model):
    """Two merged profiles had made opposite recent decisions for one purpose: the merge kept the
    most recent one, and an admin should check it (profiles.domain.consent_conflicts)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    merge = models.ForeignKey(
        "profiles.MergeEntry", on_delete=models.CASCADE, related_name="consent_conflicts"
    )
    profile = models.ForeignKey(  # the survivor of the merge
        "profiles.Profile", on_delete=models.CASCADE, related_name="consent_conflicts"
    )
    absorbed = models.ForeignKey("profiles.Profile", on_delete=models.CASCADE, related_name="+")
    purpose = models.SlugField(max_length=50)
    # Each side's decision in force at the merge: {granted, status, at, source, event}.
    survivor_decision = models.JSONField()
    absorbed_decision = models.JSONField()
    survivor_decided_at = models.DateTimeField()
    absorbed_decided_at = models.DateTimeField()
    kept = models.CharField(max_length=8)  # "survivor" or "absorbed": the decision in force
    detected_at = models.DateTimeField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.OPEN)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["merge", "purpose"], name="conflict_merge_purpose")
        ]
        indexes = [models.Index(fields=["status", "-detected_at"], name="conflict_status")]

    def __str__(self) -> str:
        return f"{self.purpose} conflict in merge {self.merge_id} ({self.status})"
