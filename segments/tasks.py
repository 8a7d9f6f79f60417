"""Background tasks of the segments app (django-q2)."""

from segments.models import Segment
from segments.services import segment_refresh, segments_apply_profile_changes, segments_refresh_due


def refresh_segment(segment_id: int) -> int | None:
    """Recompute one segment's membership; returns its size."""
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        return None
    segment_refresh(segment=segment)
    return Segment.objects.get(pk=segment_id).size


def apply_profile_changes(profile_ids: list[int]) -> int:
    """Real-time membership for profiles the processor changed; returns segments changed."""
    return len(segments_apply_profile_changes(profile_ids=set(profile_ids)))


def refresh_due_segments() -> int:
    """Scheduled: recompute segments whose time windows are due (hourly by default)."""
    return segments_refresh_due()
