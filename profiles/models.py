import hashlib

from django.conf import settings
from django.db import models


class Source(models.Model):
    """Where data comes from: a website, an app, a server, a CRM export, a POS..."""

    class Kind(models.TextChoices):
        WEBSITE = "website", "Website"
        MOBILE_APP = "mobile_app", "Mobile app"
        SERVER = "server", "Server"
        CRM = "crm", "CRM"
        COMMERCE = "commerce", "Commerce"
        PAYMENTS = "payments", "Payments"
        SUPPORT = "support", "Support desk"
        POS = "pos", "In-store POS"
        CALL_CENTER = "call_center", "Call centre"
        FILE_IMPORT = "file_import", "File import"

    class PlanMode(models.TextChoices):
        FLAG = "flag", "Flag violations (keep the event)"
        QUARANTINE = "quarantine", "Quarantine violations into failed events"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    enabled = models.BooleanField(default=True)
    max_message_bytes = models.PositiveIntegerField(default=32 * 1024)
    max_batch_bytes = models.PositiveIntegerField(default=500 * 1024)
    rate_limit_per_second = models.PositiveIntegerField(
        default=200, help_text="Collection requests per second before answering 429."
    )
    tracking_plan = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"Order Completed": {"revenue": "number", "order_id": "string"}, ...}',
    )
    tracking_plan_mode = models.CharField(
        max_length=12, choices=PlanMode.choices, default=PlanMode.FLAG
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WriteKey(models.Model):
    """A source's write key: found by its digest, readable again only by decrypting it."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE, related_name="write_keys")
    digest = models.CharField(max_length=64, unique=True)
    encrypted = models.TextField()
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Set when the key is rotated: it works until then."
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.source})"

    @staticmethod
    def digest_of(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class Event(models.Model):
    """One collected message (identify, track, page, screen, group, alias), stored once."""

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="events")
    message_id = models.CharField(max_length=255)
    type = models.CharField(max_length=10)
    name = models.CharField(max_length=255, null=True, blank=True)  # event or page/screen name
    user_id = models.CharField(max_length=255, null=True, blank=True)
    anonymous_id = models.CharField(max_length=255, null=True, blank=True)
    group_id = models.CharField(max_length=255, null=True, blank=True)
    previous_id = models.CharField(max_length=255, null=True, blank=True)
    timestamp = models.DateTimeField()
    original_timestamp = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField()
    properties = models.JSONField(default=dict)
    traits = models.JSONField(default=dict)
    context = models.JSONField(default=dict)
    integrations = models.JSONField(default=dict)
    extra = models.JSONField(default=dict)  # unknown top-level keys, kept verbatim
    consent = models.JSONField(null=True, blank=True)  # context.consent.categoryPreferences
    violations = models.JSONField(default=list, blank=True)  # tracking-plan violations
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "message_id"], name="event_source_message_id")
        ]
        indexes = [
            models.Index(fields=["source", "-received_at"], name="event_source_received"),
            models.Index(fields=["name", "timestamp"], name="event_name_time"),
            models.Index(fields=["user_id"], name="event_user_id"),
            models.Index(fields=["anonymous_id"], name="event_anonymous_id"),
            models.Index(
                fields=["received_at"],
                name="event_unprocessed",
                condition=models.Q(processed_at__isnull=True),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.name or ''} ({self.message_id})"


class FailedEvent(models.Model):
    """A message or request we could not accept, kept with its reason until fixed and replayed."""

    class Status(models.TextChoices):
        FAILED = "failed", "Failed"
        REPLAYED = "replayed", "Replayed"
        DISCARDED = "discarded", "Discarded"

    source = models.ForeignKey(
        Source, on_delete=models.CASCADE, null=True, blank=True, related_name="failed_events"
    )
    endpoint = models.CharField(max_length=20)
    payload = models.JSONField(null=True, blank=True)
    raw = models.TextField(blank=True)  # the start of an undecodable body
    code = models.CharField(max_length=40)
    reason = models.TextField()
    received_at = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.FAILED)
    replayed_at = models.DateTimeField(null=True, blank=True)
    replayed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        indexes = [models.Index(fields=["source", "status", "-received_at"], name="failed_source")]

    def __str__(self) -> str:
        return f"{self.code}: {self.reason[:60]}"


class RateWindow(models.Model):
    """Requests counted per source per second, shared by every web process."""

    source = models.ForeignKey(Source, on_delete=models.CASCADE)
    second = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "second"], name="rate_window_source_second")
        ]

    def __str__(self) -> str:
        return f"{self.source_id}@{self.second}: {self.count}"


class ImportJob(models.Model):
    """One CSV file imported into a source: mapping, progress and outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for the worker"
        RUNNING = "running", "Importing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    source = models.ForeignKey(Source, on_delete=models.PROTECT, related_name="imports")
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    mapping = models.JSONField(default=dict)  # column -> target (identifier:TYPE, trait:NAME, ...)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)
    accepted = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.original_name} → {self.source} ({self.status})"

    @property
    def percent(self) -> int:
        return int(100 * self.rows_done / self.rows_total) if self.rows_total else 0


class ImportRowError(models.Model):
    """A row of an imported file that was rejected, with the reason."""

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()  # 1 = the first data row after the header
    code = models.CharField(max_length=40)
    reason = models.TextField()
    row = models.JSONField(default=dict)

    class Meta:
        ordering = ["job", "row_number"]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason[:60]}"
