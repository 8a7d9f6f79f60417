"""Reads for the privacy admin pages: consent per profile, requests, retention, the audit log."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from cdpapp.models import AuditEntry
from privacy.domain.enforcement import Decision, region_of
from privacy.models import DataSubjectRequest, Purpose, RetentionPolicy, SuppressedCount
from privacy.services.consent import CHANNELS, consent_history
from privacy.services.enforcement import consent_decision, purposes_config
from privacy.services.retention import retention_dry_run
from profiles.models import Event, Identity, Profile, Source
from profiles.selectors.profiles import profile_family_ids, profile_resolve
from profiles.services.processing import CONSENT_EVENT

REASONS = {
    "granted": "consent granted",
    "opt_out_default": "opt-out purpose here, and no refusal recorded",
    "no_consent": "no consent recorded, and the purpose is opt-in here",
    "denied": "the person refused",
    "withdrawn": "the person withdrew consent",
    "expired": "the grant has expired",
    "unknown": "unknown purpose",
}


EVIDENCE_LABELS = {"purpose_version": "text version", "ip": "IP address", "recorded_by": "by"}


def _human(value: str) -> str:
    return value.replace("_", " ")


def _evidence(evidence: dict) -> list[tuple[str, str]]:
    """The evidence of a decision as labelled values (the long purpose text stays out)."""
    shown = []
    for key, value in evidence.items():
        if key == "purpose_text":
            continue
        label = EVIDENCE_LABELS.get(key, _human(key))
        shown.append((label, f"v{value}" if key == "purpose_version" else str(value)))
    return shown


def _parse(value) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


# --- Consent of one profile -------------------------------------------------------------------


@dataclass
class ConsentState:
    purpose: Purpose
    status: str  # granted | denied | withdrawn | "" (nothing recorded)
    legal_basis: str
    at: datetime | None
    expires_at: datetime | None
    source_name: str
    event_id: int | None
    decision: Decision

    @property
    def reason_text(self) -> str:
        return REASONS.get(self.decision.reason, self.decision.reason)


def consent_states(*, profile: Profile, now: datetime | None = None) -> list[ConsentState]:
    """Per purpose: the decision in force and what the enforcement service answers for it now."""
    config = purposes_config()
    consent = profile.consent or {}
    names = dict(
        Source.objects.filter(pk__in=[c.get("source") for c in consent.values()]).values_list(
            "pk", "name"
        )
    )
    rows = []
    for purpose in Purpose.objects.order_by("name"):
        entry = consent.get(purpose.slug) or {}
        at = _parse(entry.get("at"))
        expires = _parse(entry.get("expires_at"))
        if expires is None and at is not None and purpose.validity_days and entry.get("granted"):
            expires = at + timedelta(days=purpose.validity_days)
        status = entry.get("status") or (
            ("granted" if entry.get("granted") else "denied") if entry else ""
        )
        rows.append(
            ConsentState(
                purpose=purpose,
                status=status,
                legal_basis=_human(entry.get("legal_basis", "")),
                at=at,
                expires_at=expires,
                source_name=names.get(entry.get("source"), ""),
                event_id=entry.get("event"),
                decision=consent_decision(
                    profile=profile, purpose=purpose.slug, now=now, purposes=config
                ),
            )
        )
    return rows


def consent_region(*, profile: Profile) -> str:
    return region_of(profile.traits or {})


@dataclass
class ConsentHistoryRow:
    at: datetime
    purpose: str
    purpose_name: str
    status: str
    legal_basis: str
    expires_at: datetime | None
    source_name: str
    channel: str
    evidence: list[tuple[str, str]]
    purpose_text: str
    event_id: int


def consent_history_rows(*, profile: Profile, limit: int = 200) -> list[ConsentHistoryRow]:
    """Every decision, newest first: one row per purpose named by each consent event."""
    names = dict(Purpose.objects.values_list("slug", "name"))
    rows = []
    for event in consent_history(profile)[:limit]:
        properties = event.properties or {}
        recorded = event.name == CONSENT_EVENT and "status" in properties
        evidence = dict(properties.get("evidence") or {}) if recorded else {}
        channel = evidence.pop("channel", "") if recorded else ""
        for purpose, granted in sorted((event.consent or {}).items()):
            own = recorded and properties.get("purpose") == purpose
            rows.append(
                ConsentHistoryRow(
                    at=event.timestamp,
                    purpose=purpose,
                    purpose_name=names.get(purpose, purpose),
                    status=properties["status"] if own else ("granted" if granted else "denied"),
                    legal_basis=_human(properties.get("legal_basis", "")) if own else "",
                    expires_at=_parse(properties.get("expires_at")) if own else None,
                    source_name=event.source.name,
                    channel=CHANNELS.get(channel, channel) or "Collected with an event",
                    evidence=_evidence(evidence) if own else [("event", event.name or event.type)],
                    purpose_text=evidence.get("purpose_text", "") if own else "",
                    event_id=event.pk,
                )
            )
    return rows


# --- Data-subject requests --------------------------------------------------------------------


def requests_open() -> QuerySet[DataSubjectRequest]:
    """Open requests, the nearest deadline first."""
    return DataSubjectRequest.objects.filter(status="open").order_by("due_at")


def request_is_overdue(request: DataSubjectRequest, now: datetime | None = None) -> bool:
    return request.status == "open" and request.due_at < (now or timezone.now())


def request_steps(request: DataSubjectRequest) -> list[dict]:
    """The steps of a request, their times parsed."""
    return [{**step, "at": _parse(step.get("at"))} for step in request.steps or []]


@dataclass
class ErasureImpact:
    profile_id: int | None
    profiles: int
    events: int
    identifiers: dict[str, int]
    memberships: int


def erasure_impact(*, request: DataSubjectRequest) -> ErasureImpact:
    """What completing an erasure request would delete, to name it before confirming."""
    from segments.models import Membership

    profile = profile_resolve(profile_id=request.profile_id) if request.profile_id else None
    if profile is None:
        return ErasureImpact(None, 0, 0, {}, 0)
    family = profile_family_ids(profile_id=profile.pk)
    events = Event.objects.filter(Q(profile_id__in=family) | Q(origin_profile_id__in=family))
    identifiers = dict(
        Identity.objects.filter(profile_id__in=family)
        .values_list("id_type")
        .annotate(n=Count("id"))
        .order_by("id_type")
    )
    return ErasureImpact(
        profile_id=profile.pk,
        profiles=len(family),
        events=events.count(),
        identifiers=identifiers,
        memberships=Membership.objects.filter(profile_id__in=family).count(),
    )


# --- Suppression and retention ----------------------------------------------------------------


def suppressed_per_day(*, days: int = 30, today: date | None = None) -> list[tuple[date, int]]:
    """Messages dropped because they named an erased person, per day (zero days included)."""
    today = today or timezone.localdate()
    first = today - timedelta(days=days - 1)
    counts = dict(
        SuppressedCount.objects.filter(day__gte=first, day__lte=today).values_list("day", "count")
    )
    span = [first + timedelta(days=n) for n in range(days)]
    return [(day, counts.get(day, 0)) for day in span]


@dataclass
class RetentionRow:
    key: str  # "profiles" or the source id
    source: Source | None
    policy: RetentionPolicy | None
    would_delete: int

    @property
    def days(self) -> int | None:
        if self.policy is None:
            return None
        if self.source is None:
            return self.policy.inactive_profile_days
        return self.policy.raw_event_days

    @property
    def enabled(self) -> bool:
        return bool(self.policy and self.policy.enabled)


def retention_rows() -> list[RetentionRow]:
    """One row per source and one for inactive profiles, each with its dry-run count now."""
    plan = retention_dry_run()
    policies = {p.source_id: p for p in RetentionPolicy.objects.all()}
    rows = [
        RetentionRow(str(source.pk), source, policies.get(source.pk), plan.events.get(source.pk, 0))
        for source in Source.objects.order_by("name")
    ]
    rows.append(RetentionRow("profiles", None, policies.get(None), plan.profiles))
    return rows


def retention_row(*, source: Source | None) -> RetentionRow:
    """The row of one source (or of inactive profiles, source None)."""
    key = "profiles" if source is None else str(source.pk)
    return next(row for row in retention_rows() if row.key == key)


# --- Audit log --------------------------------------------------------------------------------


def audit_entries(
    *,
    action: str = "",
    actor: str = "",
    object_type: str = "",
    object_id: str = "",
    since: datetime | None = None,
    before: datetime | None = None,
) -> QuerySet[AuditEntry]:
    """Audit entries, newest first. `action` ending in "." matches every action it prefixes."""
    entries = AuditEntry.objects.all()
    if action:
        entries = (
            entries.filter(action__startswith=action)
            if action.endswith(".")
            else entries.filter(action=action)
        )
    if actor:
        entries = entries.filter(actor_name__iexact=actor)
    if object_type:
        entries = entries.filter(object_type=object_type)
    if object_id:
        entries = entries.filter(object_id=object_id)
    if since is not None:
        entries = entries.filter(at__gte=since)
    if before is not None:
        entries = entries.filter(at__lt=before)
    return entries.order_by("-at", "-id")


def audit_filter_choices() -> dict[str, list[str]]:
    """The actions, actors and object types found in the log, for the filter's suggestions."""
    values = AuditEntry.objects.order_by()
    return {
        "actions": sorted(set(values.values_list("action", flat=True).distinct())),
        "actors": sorted(set(values.values_list("actor_name", flat=True).distinct())),
        "object_types": sorted(set(values.values_list("object_type", flat=True).distinct())),
    }
