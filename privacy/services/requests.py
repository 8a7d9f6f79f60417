"""Data-subject requests: find the person, export everything (access), or erase them."""

from datetime import timedelta

from django.db import connection, transaction
from django.utils import timezone

from cdpapp.audit import audit_record
from privacy.domain.suppression import digest
from privacy.models import DataSubjectRequest, Suppression
from privacy.selectors import suppression_key
from profiles.domain.identity import TypeRule, normalise
from profiles.models import Event, FailedEvent, Identity, ImportRowError, MergeEntry, Profile
from profiles.selectors.profiles import profile_family_ids, profile_resolve

DEADLINES = {"gdpr": 30, "ccpa": 45}
SUBJECT_TYPES = {
    "email": TypeRule(name="email", normaliser="email"),
    "phone": TypeRule(name="phone", normaliser="phone"),
    "user_id": TypeRule(name="user_id"),
    "anonymous_id": TypeRule(name="anonymous_id"),
    "crm_id": TypeRule(name="crm_id"),
    "loyalty_id": TypeRule(name="loyalty_id"),
}


class RequestError(ValueError):
    """The request cannot be created or carried out; the message says why."""


def _step(request: DataSubjectRequest, step: str, detail: str = "") -> None:
    request.steps = [
        *request.steps,
        {"at": timezone.now().isoformat(), "step": step, "detail": detail},
    ]


def _normalised(subject_type: str, value: str) -> str:
    rule = SUBJECT_TYPES.get(subject_type)
    if rule is None:
        raise RequestError(f"Find people by one of: {', '.join(SUBJECT_TYPES)}.")
    try:
        return normalise(rule, value)
    except ValueError as exc:
        raise RequestError(f"That {subject_type} cannot be used: {exc}.") from exc


@transaction.atomic
def request_create(
    *, kind: str, subject_type: str, subject_value: str, regulation: str = "gdpr", actor=None
) -> DataSubjectRequest:
    """Open an access or erasure request, with its legal deadline, for the person found."""
    if kind not in DataSubjectRequest.Kind.values:
        raise RequestError("The kind is 'access' or 'erasure'.")
    if regulation not in DEADLINES:
        raise RequestError("The regulation is 'gdpr' (30 days) or 'ccpa' (45 days).")
    value = _normalised(subject_type, subject_value)
    identity = Identity.objects.filter(id_type=subject_type, value=value).first()
    now = timezone.now()
    request = DataSubjectRequest(
        kind=kind,
        regulation=regulation,
        subject_type=subject_type,
        subject_value=value,
        subject_digest=digest(suppression_key(), subject_type, value),
        profile=profile_resolve(profile_id=identity.profile_id) if identity else None,
        requested_at=now,
        due_at=now + timedelta(days=DEADLINES[regulation]),
        created_by=actor,
    )
    _step(request, "received", f"{regulation.upper()} deadline {request.due_at:%Y-%m-%d}")
    _step(
        request,
        "matched" if identity else "no_match",
        f"profile {request.profile.pk}" if identity else "no profile holds this identifier",
    )
    request.save()
    audit_record(
        actor=actor,
        action=f"dsr.{kind}.opened",
        object_type="dsr",
        object_id=request.pk,
        after={"profile": request.profile_id},
    )
    return request


@transaction.atomic
def request_reject(*, request: DataSubjectRequest, reason: str, actor=None) -> DataSubjectRequest:
    """Close an open request without carrying it out (identity not verified, a duplicate...);
    the reason is kept with the request."""
    request = DataSubjectRequest.objects.select_for_update().get(pk=request.pk)
    if request.status != "open":
        raise RequestError("Only an open request can be rejected.")
    reason = (reason or "").strip()
    if not reason:
        raise RequestError("Say why the request is rejected: the person is owed a reason.")
    if len(reason) > 1000:
        raise RequestError("Keep the reason under 1000 characters.")
    request.status, request.completed_at = "rejected", timezone.now()
    request.rejection_reason = reason
    _step(request, "rejected", "the reason is kept with the request")
    request.save()
    # The reason may name the person: it stays on the request (an erasure clears it), not here.
    audit_record(
        actor=actor,
        action=f"dsr.{request.kind}.rejected",
        object_type="dsr",
        object_id=request.pk,
        before={"status": "open"},
        after={"status": "rejected", "profile": request.profile_id},
    )
    return request


def profile_export(profile: Profile) -> dict:
    """Everything we hold about a person, as JSON."""
    from segments.models import Membership

    events = Event.objects.filter(profile=profile).order_by("timestamp", "id")
    return {
        "exported_at": timezone.now().isoformat(),
        "profile": {
            "id": profile.pk,
            "traits": profile.traits,
            "trait_lineage": profile.trait_lineage,
            "computed": profile.computed,
            "consent": profile.consent,
            "first_seen": profile.first_seen.isoformat(),
            "last_seen": profile.last_seen.isoformat(),
        },
        "identifiers": [
            {
                "type": i.id_type,
                "value": i.value,
                "first_seen": i.first_seen.isoformat(),
                "last_seen": i.last_seen.isoformat(),
            }
            for i in profile.identities.order_by("id_type", "value")
        ],
        "events": [
            {
                "id": e.pk,
                "type": e.type,
                "name": e.name,
                "timestamp": e.timestamp.isoformat(),
                "source": e.source.name,
                "user_id": e.user_id,
                "anonymous_id": e.anonymous_id,
                "properties": e.properties,
                "traits": e.traits,
                "context": e.context,
            }
            for e in events.select_related("source").iterator()
        ],
        "consent_history": [
            {
                "timestamp": e.timestamp.isoformat(),
                "choices": e.consent,
                "details": e.properties if e.name == "Consent Updated" else {},
            }
            for e in events.filter(consent__isnull=False)
        ],
        "segment_memberships": [
            {
                "segment": m.segment.name,
                "entered_at": m.entered_at.isoformat(),
                "exited_at": m.exited_at.isoformat() if m.exited_at else None,
            }
            for m in Membership.objects.filter(profile=profile).select_related("segment")
        ],
        "merges": [
            {"kind": m.kind, "reason": m.reason, "at": m.at.isoformat()}
            for m in MergeEntry.objects.filter(survivor=profile)
        ],
        "deliveries": [],  # no destination has sent anything yet: activations keep no deliveries
    }


@transaction.atomic
def request_complete_access(*, request: DataSubjectRequest, actor=None) -> DataSubjectRequest:
    """Build the access export; it can then be downloaded from the request."""
    if request.kind != "access" or request.status != "open":
        raise RequestError("Only an open access request can be completed this way.")
    if request.profile is None:
        request.export = {"exported_at": timezone.now().isoformat(), "found": False}
        _step(request, "exported", "nothing is held about this person")
    else:
        request.export = profile_export(profile_resolve(profile_id=request.profile_id))
        _step(request, "exported", f"{len(request.export['events'])} events")
    request.status, request.completed_at = "done", timezone.now()
    request.save()
    audit_record(actor=actor, action="dsr.access.done", object_type="dsr", object_id=request.pk)
    return request


@transaction.atomic
def request_complete_erasure(*, request: DataSubjectRequest, actor=None) -> DataSubjectRequest:
    """Erase the person: events, identifiers, traits, memberships go; a keyed hash stays."""
    if request.kind != "erasure" or request.status != "open":
        raise RequestError("Only an open erasure request can be completed this way.")
    key = suppression_key()
    identifiers = {(request.subject_type, request.subject_value)}
    family: list[int] = []
    if request.profile_id is not None:
        survivor = profile_resolve(profile_id=request.profile_id)
        family = profile_family_ids(profile_id=survivor.pk) if survivor else []
        identifiers |= set(
            Identity.objects.filter(profile_id__in=family).values_list("id_type", "value")
        )
    Suppression.objects.bulk_create(
        [Suppression(digest=digest(key, t, v), id_type=t, request=request) for t, v in identifiers],
        ignore_conflicts=True,
    )
    values = sorted({value for _, value in identifiers})
    counts = {}
    events = Event.objects.filter(profile_id__in=family) | Event.objects.filter(
        origin_profile_id__in=family
    )
    events |= Event.objects.filter(user_id__in=values) | Event.objects.filter(
        anonymous_id__in=values
    )
    counts["events"] = events.delete()[0]
    ids = Identity.objects.filter(profile_id__in=family) | Identity.objects.filter(
        origin_profile_id__in=family
    )
    counts["identifiers"] = ids.delete()[0]
    counts["ledger"] = MergeEntry.objects.filter(id_value__in=values).delete()[0]
    counts["failed_events"] = _delete_mentioning(FailedEvent, "payload", values) + (
        _delete_mentioning(FailedEvent, "raw", values)
    )
    counts["import_rows"] = _delete_mentioning(ImportRowError, "row", values)
    # Memberships, match candidates and the ledger of these profiles go with them.
    Profile.objects.filter(merged_into_id__in=family).update(merged_into=None)
    counts["profiles"] = Profile.objects.filter(pk__in=family).delete()[0]
    DataSubjectRequest.objects.filter(subject_digest=request.subject_digest).exclude(
        pk=request.pk
    ).update(export=None, subject_value="", rejection_reason="")
    request.subject_value = ""
    request.profile = None
    request.status, request.completed_at = "done", timezone.now()
    _step(request, "erased", ", ".join(f"{k}: {v}" for k, v in counts.items()))
    _step(request, "suppressed", f"{len(identifiers)} identifiers kept only as keyed hashes")
    request.save()
    audit_record(
        actor=actor,
        action="dsr.erasure.done",
        object_type="dsr",
        object_id=request.pk,
        after={"deleted": counts},
    )
    return request


def _delete_mentioning(model, field: str, values: list[str]) -> int:
    """Delete rows whose JSON or text field mentions any of `values` (as a whole string)."""
    table = model._meta.db_table
    deleted = 0
    with connection.cursor() as cursor:
        for value in values:
            cursor.execute(
                f'DELETE FROM {table} WHERE strpos("{field}"::text, %s) > 0',  # noqa: S608
                [value],
            )
            deleted += cursor.rowcount
    return deleted
