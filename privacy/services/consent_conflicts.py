"""Consent conflicts found at merge time: recorded with the merge, resolved by an admin."""

from django.db import transaction
from django.utils import timezone

from cdpapp.audit import audit_record
from privacy.models import ConsentConflict
from profiles.domain import consent_conflicts as domain
from profiles.models import MergeEntry


class ConsentConflictError(ValueError):
    """The conflict cannot be resolved; the message says why."""


def consent_conflicts_record(
    *, found: list[tuple[MergeEntry, list[domain.ConsentConflict]]]
) -> list[ConsentConflict]:
    """Store the conflicts of each merge: side `a` of each conflict is the merge's survivor."""
    now = timezone.now()
    rows = [
        ConsentConflict(
            merge=entry,
            profile_id=entry.survivor_id,
            absorbed_id=entry.absorbed_id,
            purpose=conflict.purpose,
            survivor_decision=conflict.a.as_dict(),
            absorbed_decision=conflict.b.as_dict(),
            survivor_decided_at=conflict.a.at,
            absorbed_decided_at=conflict.b.at,
            kept="survivor" if conflict.in_force == "a" else "absorbed",
            detected_at=now,
        )
        for entry, conflicts in found
        for conflict in conflicts
    ]
    return ConsentConflict.objects.bulk_create(rows, ignore_conflicts=True)


@transaction.atomic
def consent_conflict_resolve(
    *, conflict: ConsentConflict, actor, resolution: str = ""
) -> ConsentConflict:
    """Mark an open conflict as checked, with what was done about it; audited."""
    conflict = ConsentConflict.objects.select_for_update().get(pk=conflict.pk)
    if conflict.status != ConsentConflict.Status.OPEN:
        raise ConsentConflictError(f"Conflict #{conflict.pk} is already resolved.")
    resolution = (resolution or "").strip()
    if len(resolution) > 1000:
        raise ConsentConflictError("Keep the note under 1000 characters.")
    conflict.status = ConsentConflict.Status.RESOLVED
    conflict.resolved_by = actor if getattr(actor, "is_authenticated", False) else None
    conflict.resolved_at = timezone.now()
    conflict.resolution = resolution
    conflict.save(update_fields=["status", "resolved_by", "resolved_at", "resolution"])
    audit_record(
        actor=actor,
        action="consent_conflict.resolved",
        object_type="consent_conflict",
        object_id=conflict.pk,
        before={"status": ConsentConflict.Status.OPEN},
        after={
            "status": conflict.status,
            "profile": conflict.profile_id,
            "merge": conflict.merge_id,
            "purpose": conflict.purpose,
            "noted": bool(resolution),  # the note itself stays on the conflict: it may name people
        },
    )
    return conflict


def consent_conflicts_close_for_undone_merge(*, merge: MergeEntry, actor=None) -> int:
    """Resolve the open conflicts of a merge that was undone: each profile has its own consent
    again. Returns how many were closed (the unmerge's own audit entry names them)."""
    return ConsentConflict.objects.filter(merge=merge, status=ConsentConflict.Status.OPEN).update(
        status=ConsentConflict.Status.RESOLVED,
        resolved_by=actor if getattr(actor, "is_authenticated", False) else None,
        resolved_at=timezone.now(),
        resolution="The merge was undone: each profile has its own consent again.",
    )
