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
    profile = models.ForeignKey(
        "Profile", on_delete=models.SET_NULL, null=True, blank=True, related_name="events"
    )
    # The profile the event first resolved to; unmerge sends it back there.
    origin_profile = models.ForeignKey(
        "Profile", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "message_id"], name="event_source_message_id")
        ]
        indexes = [
            models.Index(fields=["source", "-received_at"], name="event_source_received"),
            models.Index(fields=["name", "timestamp"], name="event_name_time"),
            models.Index(fields=["profile", "name", "timestamp"], name="event_profile_name_time"),
            models.Index(fields=["origin_profile"], name="event_origin_profile"),
            models.Index(fields=["user_id"], name="event_user_id"),
            models.Index(fields=["anonymous_id"], name="event_anonymous_id"),
            models.Index(
                fields=["received_at"],
                name="event_unprocessed",
                condition=models.Q(processed_at__isnull=True),
            ),
            # Processor lag over the last hour (/healthz): without it, a scan of every event.
            models.Index(
                fields=["processed_at"],
                name="event_processed",
                condition=models.Q(processed_at__isnull=False),
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
    warnings = models.PositiveIntegerField(default=0)  # rows imported with a warning
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
    """A row of an imported file that was rejected, or imported with a warning, and why."""

    class Severity(models.TextChoices):
        ERROR = "error", "Rejected"
        WARNING = "warning", "Imported with a warning"

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="row_errors")
    row_number = models.PositiveIntegerField()  # 1 = the first data row after the header
    severity = models.CharField(max_length=7, choices=Severity.choices, default=Severity.ERROR)
    code = models.CharField(max_length=40)
    reason = models.TextField()
    row = models.JSONField(default=dict)

    class Meta:
        ordering = ["job", "row_number"]

    def __str__(self) -> str:
        return f"row {self.row_number}: {self.reason[:60]}"


class IdentityType(models.Model):
    """A kind of identifier and the rules for resolving on it (admin-managed)."""

    class Normaliser(models.TextChoices):
        EMAIL = "email", "Email (trimmed, lower-cased)"
        PHONE = "phone", "Phone (E.164)"
        REGEX = "regex", "Custom regular expression"
        TRIM = "trim", "Trimmed text"

    name = models.SlugField(max_length=40, unique=True)
    normaliser = models.CharField(max_length=10, choices=Normaliser.choices, default="trim")
    pattern = models.CharField(
        max_length=200, blank=True, help_text="For the regex normaliser: values must match it."
    )
    default_region = models.CharField(max_length=2, default="GB", help_text="For phone numbers.")
    trait_keys = models.JSONField(
        default=list, blank=True, help_text="Trait names that carry this identifier, e.g. email."
    )
    priority = models.PositiveSmallIntegerField(default=50, help_text="Higher wins conflicts.")
    max_per_profile = models.PositiveSmallIntegerField(null=True, blank=True)
    blocked_values = models.JSONField(default=list, blank=True)
    verified = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["-priority", "name"]

    def __str__(self) -> str:
        return self.name


class Profile(models.Model):
    """One person: the golden record built from every source's events."""

    traits = models.JSONField(default=dict)
    trait_lineage = models.JSONField(default=dict)  # trait -> {source, event, at, counts?}
    computed = models.JSONField(default=dict)
    consent = models.JSONField(default=dict)  # purpose -> {granted, at, source, event}
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    merged_into = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="absorbed"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["last_seen"], name="profile_last_seen"),
            models.Index(
                fields=["id"], name="profile_active", condition=models.Q(merged_into__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"profile {self.pk}"


class Identity(models.Model):
    """An identifier (type, normalised value) owned by exactly one profile."""

    id_type = models.CharField(max_length=40)
    value = models.CharField(max_length=255)
    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="identities")
    # The profile this identifier first belonged to; unmerge sends it back there.
    origin_profile = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="origin_identities"
    )
    source = models.ForeignKey(Source, on_delete=models.SET_NULL, null=True, blank=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["id_type", "value"], name="identity_type_value")
        ]
        indexes = [models.Index(fields=["profile", "id_type"], name="identity_profile_type")]

    def __str__(self) -> str:
        return f"{self.id_type}:{self.value}"


class MergeEntry(models.Model):
    """The append-only ledger of merges, unmerges and dropped identifiers."""

    class Kind(models.TextChoices):
        MERGE = "merge", "Merge"
        UNMERGE = "unmerge", "Unmerge"
        DROP = "drop", "Identifier dropped"

    kind = models.CharField(max_length=8, choices=Kind.choices)
    survivor = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    absorbed = models.ForeignKey(
        Profile, on_delete=models.CASCADE, related_name="+", null=True, blank=True
    )
    reason = models.CharField(max_length=40)  # shared_identifier, review, probabilistic, ...
    rule = models.CharField(max_length=200, blank=True)
    id_type = models.CharField(max_length=40, blank=True)
    id_value = models.CharField(max_length=255, blank=True)
    event = models.ForeignKey(Event, on_delete=models.SET_NULL, null=True, blank=True)
    score = models.FloatField(null=True, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    at = models.DateTimeField()
    snapshot = models.JSONField(default=dict, blank=True)
    undone_by = models.OneToOneField(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="undoes"
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["survivor", "-at"], name="merge_survivor"),
            models.Index(fields=["absorbed"], name="merge_absorbed"),
            models.Index(fields=["kind", "-at"], name="merge_kind_at"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.absorbed_id} → {self.survivor_id} ({self.reason})"


class SurvivorshipRule(models.Model):
    """How the golden profile picks a trait's value when sources disagree."""

    class Rule(models.TextChoices):
        MOST_RECENT = "most_recent", "Most recent"
        FIRST_SEEN = "first_seen", "First seen"
        SOURCE_PRIORITY = "source_priority", "Source priority"
        MOST_FREQUENT = "most_frequent", "Most frequent"

    trait = models.CharField(max_length=100, unique=True, help_text="'*' is the default.")
    rule = models.CharField(max_length=16, choices=Rule.choices, default=Rule.MOST_RECENT)
    source_priority = models.JSONField(
        default=list, blank=True, help_text="Source ids, most trusted first."
    )
    keep_non_empty = models.BooleanField(
        default=True, help_text="Never overwrite a value with an empty one."
    )

    def __str__(self) -> str:
        return f"{self.trait}: {self.rule}"


class MatchCandidate(models.Model):
    """A pair of profiles that may be one person, waiting for review (or already decided)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending review"
        APPROVED = "approved", "Approved (merged)"
        REJECTED = "rejected", "Rejected"
        AUTO_MERGED = "auto_merged", "Merged automatically"
        OBSOLETE = "obsolete", "Obsolete (profiles changed)"

    profile_a = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    profile_b = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="+")
    score = models.FloatField()  # match probability 0..1
    explanation = models.JSONField(default=dict)  # field -> {a, b, level, weight}
    reason = models.CharField(max_length=40, default="probabilistic")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["profile_a", "profile_b"], name="candidate_pair"),
            models.CheckConstraint(
                condition=models.Q(profile_a__lt=models.F("profile_b")), name="candidate_ordered"
            ),
        ]
        indexes = [models.Index(fields=["status", "-score"], name="candidate_status_score")]

    def __str__(self) -> str:
        return f"{self.profile_a_id}~{self.profile_b_id} {self.score:.3f} ({self.status})"


class JunkIdentifier(models.Model):
    """A blocked identifier value seen in events, counted for the identity health alerts."""

    id_type = models.CharField(max_length=40)
    value = models.CharField(max_length=255)
    count = models.PositiveIntegerField(default=0)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["id_type", "value"], name="junk_type_value")]

    def __str__(self) -> str:
        return f"{self.id_type}:{self.value} seen {self.count} times"


class ProcessorState(models.Model):
    """One row: whether a processing task is already queued (so requests enqueue at most one)."""

    pending = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"processor pending={self.pending}"


class MergeSettings(models.Model):
    """One row: how automatic merges treat profiles whose consent conflicts (admin-managed)."""

    consent_conflict_review = models.BooleanField(
        default=False,
        help_text="Send two profiles whose recent consent decisions conflict to the review "
        "queue instead of merging them automatically.",
    )

    class Meta:
        verbose_name_plural = "merge settings"

    def __str__(self) -> str:
        return f"merge settings (consent conflicts to review: {self.consent_conflict_review})"


class RuleChange(models.Model):
    """The append-only history of identity-type and survivorship-rule changes."""

    class Kind(models.TextChoices):
        IDENTITY_TYPE = "identity_type", "Identity type"
        SURVIVORSHIP_RULE = "survivorship_rule", "Survivorship rule"
        MERGE_SETTING = "merge_setting", "Merge setting"

    kind = models.CharField(max_length=20, choices=Kind.choices)
    object_name = models.CharField(max_length=100)
    before = models.JSONField(null=True, blank=True)  # None when the object was created
    after = models.JSONField(null=True, blank=True)  # None when the object was deleted
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    at = models.DateTimeField()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["kind", "object_name", "-at"], name="rulechange_object")]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_name} at {self.at:%Y-%m-%d %H:%M}"


class MatchRun(models.Model):
    """One probabilistic matching run: its thresholds, what it compared, proposed and merged."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another run was in progress)"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "Schedule"
        MANUAL = "manual", "Run now (UI)"
        COMMAND = "command", "Command line"

    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=8, choices=Trigger.choices, default=Trigger.SCHEDULE)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    auto_merge_threshold = models.FloatField()
    review_threshold = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    profiles = models.PositiveIntegerField(default=0)  # records compared
    pairs = models.PositiveBigIntegerField(default=0)  # candidate pairs after blocking
    candidates = models.PositiveIntegerField(default=0)  # review candidates proposed
    merges = models.PositiveIntegerField(default=0)
    held_for_review = models.PositiveIntegerField(default=0)  # above auto-merge, but conflicting
    skipped_rejected = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(null=True, blank=True)
    model = models.JSONField(default=dict, blank=True)  # learned parameters and blocking counts
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"match run {self.pk} ({self.status})"
