"""Writes about segments: create, save a new version, refresh membership, real-time updates."""

import logging
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from profiles.models import Profile
from segments.domain.definition import DefinitionError, check_cycles, validate
from segments.models import Membership, Segment, SegmentSnapshot, SegmentVersion
from segments.selectors import segment_graph, segment_queryset, segments_in_dependency_order

logger = logging.getLogger(__name__)
SAMPLE = 20


def segment_validate(definition, *, segment_id: int | None = None) -> dict:
    """The validated definition; checks referenced segments exist and no cycle is formed."""
    existing = set(Segment.objects.values_list("pk", flat=True))
    validated = validate(definition, segment_ids=existing)
    check_cycles(segment_id, validated, segment_graph())
    return validated


def _enqueue_refresh(segment: Segment) -> None:
    from django_q.tasks import async_task

    pk = segment.pk
    transaction.on_commit(lambda: async_task("segments.tasks.refresh_segment", pk))


@transaction.atomic
def segment_create(
    *,
    name: str,
    definition: dict,
    owner=None,
    description: str = "",
    refresh: str = "realtime",
    refresh_minutes: int | None = None,
) -> Segment:
    """Create a segment (version 1) and queue its first refresh; `refresh_minutes` None keeps
    the model's default interval."""
    validated = segment_validate(definition)
    segment = Segment(
        name=name.strip(), description=description, definition=validated, owner=owner,
        refresh=refresh,
    )  # fmt: skip
    if refresh_minutes is not None:
        segment.refresh_minutes = refresh_minutes
    segment.full_clean()
    segment.save()
    SegmentVersion.objects.create(segment=segment, version=1, definition=validated, saved_by=owner)
    _enqueue_refresh(segment)
    return segment


@transaction.atomic
def segment_update(
    *, segment: Segment, user=None, definition: dict | None = None, **fields
) -> Segment:
    """Change a segment; a changed definition becomes a new version (its diff at refresh)."""
    segment = Segment.objects.select_for_update().get(pk=segment.pk)
    for name, value in fields.items():
        setattr(segment, name, value)
    if definition is not None:
        validated = segment_validate(definition, segment_id=segment.pk)
        if validated != segment.definition:
            segment.definition = validated
            segment.definition_version += 1
            SegmentVersion.objects.create(
                segment=segment,
                version=segment.definition_version,
                definition=validated,
                saved_by=user,
            )
    segment.full_clean()
    segment.save()
    _enqueue_refresh(segment)
    return segment


@transaction.atomic
def segment_duplicate(*, segment: Segment, user=None) -> Segment:
    """A copy of a segment under a new name."""
    return segment_create(
        name=f"{segment.name} (copy)", definition=segment.definition, owner=user,
        description=segment.description, refresh=segment.refresh,
        refresh_minutes=segment.refresh_minutes,
    )  # fmt: skip


def segment_archive(*, segment: Segment, archived: bool = True) -> Segment:
    """Archive (or restore) a segment; an archived segment keeps its history but stops updating."""
    segment.archived = archived
    segment.save(update_fields=["archived", "updated_at"])
    return segment


@dataclass
class MembershipChange:
    entered: list[int]
    exited: list[int]


def _apply(segment: Segment, matched: set[int], scope: list[int] | None) -> MembershipChange:
    """Open stints for newly matched profiles and close them for those no longer matching."""
    current = Membership.objects.filter(segment=segment, exited_at__isnull=True)
    if scope is not None:
        current = current.filter(profile_id__in=scope)
    open_ids = set(current.values_list("profile_id", flat=True))
    entered, exited = sorted(matched - open_ids), sorted(open_ids - matched)
    now = timezone.now()
    with connection.cursor() as cursor:
        if entered:
            cursor.execute(
                "INSERT INTO segments_membership (segment_id, profile_id, entered_at) "
                "SELECT %s, p, %s FROM unnest(%s::bigint[]) AS p "
                "ON CONFLICT DO NOTHING",
                [segment.pk, now, entered],
            )
        if exited:
            cursor.execute(
                "UPDATE segments_membership SET exited_at = %s WHERE segment_id = %s "
                "AND exited_at IS NULL AND profile_id = ANY(%s)",
                [now, segment.pk, exited],
            )
    return MembershipChange(entered, exited)


def segment_refresh(*, segment: Segment) -> MembershipChange | None:
    """Recompute a segment's whole membership; a failure is stored on the segment, not hidden."""
    try:
        with transaction.atomic():
            segment = Segment.objects.select_for_update().get(pk=segment.pk)
            matched = set(segment_queryset(segment.definition).values_list("pk", flat=True))
            change = _apply(segment, matched, scope=None)
            now = timezone.now()
            segment.size = len(matched)
            segment.status = Segment.Status.READY
            segment.last_error = ""
            segment.last_refreshed_at = now
            segment.save(update_fields=["size", "status", "last_error", "last_refreshed_at"])
            SegmentSnapshot.objects.create(
                segment=segment, at=now, size=len(matched),
                entered=len(change.entered), exited=len(change.exited),
            )  # fmt: skip
            SegmentVersion.objects.filter(
                segment=segment, version=segment.definition_version, size__isnull=True
            ).update(
                size=len(matched), entered=len(change.entered), exited=len(change.exited),
                sample_entered=change.entered[:SAMPLE], sample_exited=change.exited[:SAMPLE],
            )  # fmt: skip
            return change
    except (DefinitionError, Exception) as exc:  # shown on the segment page, never "calculating"
        logger.exception("refresh of segment %s failed", segment.pk)
        Segment.objects.filter(pk=segment.pk).update(
            status=Segment.Status.FAILED, last_error=f"{type(exc).__name__}: {exc}"[:2000]
        )
        return None


@transaction.atomic
def segments_apply_profile_changes(*, profile_ids: set[int]) -> dict[int, MembershipChange]:
    """Real-time update: re-evaluate changed profiles against every real-time segment."""
    ids = sorted(profile_ids)
    absorbed = list(Profile.objects.filter(merged_into__in=ids).values_list("pk", flat=True))
    scope = ids + absorbed
    segments = list(
        Segment.objects.filter(archived=False, refresh=Segment.Refresh.REALTIME).exclude(
            status=Segment.Status.FAILED
        )
    )
    changes = {}
    for segment in segments_in_dependency_order(segments):
        matched = set(
            segment_queryset(segment.definition, profile_ids=ids).values_list("pk", flat=True)
        )
        change = _apply(segment, matched, scope=scope)
        if change.entered or change.exited:
            Segment.objects.filter(pk=segment.pk).update(
                size=Membership.objects.filter(segment=segment, exited_at__isnull=True).count()
            )
            changes[segment.pk] = change
    return changes


def segments_refresh_due() -> int:
    """Refresh the segments whose time-relative conditions are due; returns how many."""
    now = timezone.now()
    done = 0
    for segment in Segment.objects.filter(archived=False):
        due = segment.last_refreshed_at is None or (
            (now - segment.last_refreshed_at).total_seconds() >= segment.refresh_minutes * 60
        )
        if due:
            segment_refresh(segment=segment)
            done += 1
    return done
