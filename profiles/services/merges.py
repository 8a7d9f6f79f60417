"""Merging and unmerging profiles by hand (review, probabilistic match, undo)."""

from django.db import connection, transaction
from django.utils import timezone

from cdpapp.audit import audit_record
from privacy.services.consent_conflicts import (
    consent_conflicts_close_for_undone_merge,
    consent_conflicts_record,
)
from profiles.models import MatchCandidate, MergeEntry, Profile
from profiles.selectors.merge_settings import merge_consent_conflicts
from profiles.selectors.profiles import profile_family_ids, profile_resolve
from profiles.services.processing import (
    PROCESSOR_LOCK,
    profile_merge_rows,
    profiles_rebuild,
)
from profiles.signals import profiles_changed


class MergeError(ValueError):
    """The merge or unmerge cannot be done; the message says why."""


def _lock() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [PROCESSOR_LOCK])


def _canonical(profile: Profile) -> Profile:
    found = profile_resolve(profile_id=profile.pk)
    if found is None:
        raise MergeError(f"Profile {profile.pk} does not exist any more.")
    return found


@transaction.atomic
def profile_merge(
    *,
    survivor: Profile,
    absorbed: Profile,
    reason: str,
    actor=None,
    score: float | None = None,
    rule: str = "",
) -> MergeEntry:
    """Merge `absorbed` into `survivor`: identifiers, events, traits and consent all move."""
    _lock()
    survivor, absorbed = _canonical(survivor), _canonical(absorbed)
    if survivor.pk == absorbed.pk:
        raise MergeError(f"Profiles {survivor.pk} and {absorbed.pk} are already one profile.")
    if absorbed.pk < survivor.pk:  # the older profile survives, as in automatic merges
        survivor, absorbed = absorbed, survivor
    snapshot = {
        "survivor": {"traits": survivor.traits, "consent": survivor.consent},
        "absorbed": {"traits": absorbed.traits, "consent": absorbed.consent},
    }
    conflicts = merge_consent_conflicts(survivor.consent, absorbed.consent)
    profile_merge_rows(survivor=survivor.pk, absorbed=absorbed.pk)
    entry = MergeEntry.objects.create(
        kind=MergeEntry.Kind.MERGE,
        survivor=survivor,
        absorbed=absorbed,
        reason=reason,
        rule=rule,
        score=score,
        actor=actor,
        at=timezone.now(),
        snapshot=snapshot,
    )
    if conflicts:
        consent_conflicts_record(found=[(entry, conflicts)])
    profiles_rebuild({survivor.pk})
    audit_record(
        actor=actor, action="profile.merged", object_type="profile", object_id=survivor.pk,
        after={
            "absorbed": absorbed.pk, "reason": reason, "score": score, "ledger": entry.pk,
            "consent_conflicts": [c.purpose for c in conflicts],
        },
    )  # fmt: skip
    MatchCandidate.objects.filter(
        status=MatchCandidate.Status.PENDING, profile_a__in=[survivor, absorbed]
    ).filter(profile_b__in=[survivor, absorbed]).update(
        status=MatchCandidate.Status.APPROVED if reason == "review" else "auto_merged"
    )
    changed = {survivor.pk}
    transaction.on_commit(lambda: profiles_changed.send(sender=Profile, profile_ids=changed))
    return entry


@transaction.atomic
def profile_unmerge(*, entry: MergeEntry, actor=None) -> MergeEntry:
    """Undo a merge: the absorbed profile comes back with its own identifiers, events, traits."""
    _lock()
    entry = MergeEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.kind != MergeEntry.Kind.MERGE:
        raise MergeError("Only merges can be undone.")
    if entry.undone_by_id is not None:
        raise MergeError(f"Merge {entry.pk} was already undone.")
    absorbed = Profile.objects.get(pk=entry.absorbed_id)
    if absorbed.merged_into_id is None:
        raise MergeError(f"Profile {absorbed.pk} is not merged any more.")
    current = _canonical(absorbed)
    family = profile_family_ids(profile_id=absorbed.pk)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE profiles_identity SET profile_id = %s "
            "WHERE origin_profile_id = ANY(%s) AND profile_id = %s",
            [absorbed.pk, family, current.pk],
        )
        cursor.execute(
            "UPDATE profiles_event SET profile_id = %s "
            "WHERE origin_profile_id = ANY(%s) AND profile_id = %s",
            [absorbed.pk, family, current.pk],
        )
    Profile.objects.filter(pk=absorbed.pk).update(merged_into=None, updated_at=timezone.now())
    undo = MergeEntry.objects.create(
        kind=MergeEntry.Kind.UNMERGE,
        survivor_id=current.pk,
        absorbed=absorbed,
        reason="undo",
        rule=f"undo of merge {entry.pk}",
        actor=actor,
        at=timezone.now(),
    )
    entry.undone_by = undo
    entry.save(update_fields=["undone_by"])
    closed = consent_conflicts_close_for_undone_merge(merge=entry, actor=actor)
    audit_record(
        actor=actor, action="profile.unmerged", object_type="profile", object_id=current.pk,
        before={"absorbed": absorbed.pk, "ledger": entry.pk},
        after={"restored": absorbed.pk, **({"consent_conflicts_closed": closed} if closed else {})},
    )  # fmt: skip
    # A rejected pair is never proposed again.
    a, b = sorted((current.pk, absorbed.pk))
    MatchCandidate.objects.update_or_create(
        profile_a_id=a,
        profile_b_id=b,
        defaults={"status": MatchCandidate.Status.REJECTED, "score": entry.score or 1.0},
    )
    changed = {current.pk, absorbed.pk}
    profiles_rebuild(changed)
    transaction.on_commit(lambda: profiles_changed.send(sender=Profile, profile_ids=changed))
    return undo
