"""Retention: delete raw events older than a source's limit, and profiles inactive too long."""

from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from cdpapp.audit import audit_record
from privacy.models import RetentionPolicy
from profiles.models import Event, Profile


@dataclass
class RetentionPlan:
    events: dict[int, int]  # source id -> events that would go
    profiles: int


def _policies():
    return RetentionPolicy.objects.select_related("source")


def retention_dry_run(*, only_enabled: bool = False) -> RetentionPlan:
    """How many events and profiles the policies would delete now (nothing is deleted)."""
    now = timezone.now()
    events, profiles = {}, 0
    for policy in _policies():
        if only_enabled and not policy.enabled:
            continue
        if policy.source_id and policy.raw_event_days:
            cutoff = now - timedelta(days=policy.raw_event_days)
            events[policy.source_id] = Event.objects.filter(
                source_id=policy.source_id, received_at__lt=cutoff
            ).count()
        if policy.source_id is None and policy.inactive_profile_days:
            cutoff = now - timedelta(days=policy.inactive_profile_days)
            profiles = _inactive(cutoff).count()
    return RetentionPlan(events, profiles)


def _inactive(cutoff):
    return Profile.objects.filter(merged_into__isnull=True, last_seen__lt=cutoff)


@transaction.atomic
def retention_run(*, actor=None) -> RetentionPlan:
    """Apply every enabled policy; returns what was deleted."""
    now = timezone.now()
    done = RetentionPlan({}, 0)
    for policy in _policies().filter(enabled=True):
        deleted = 0
        if policy.source_id and policy.raw_event_days:
            cutoff = now - timedelta(days=policy.raw_event_days)
            deleted = Event.objects.filter(
                source_id=policy.source_id, received_at__lt=cutoff
            ).delete()[0]
            done.events[policy.source_id] = deleted
        if policy.source_id is None and policy.inactive_profile_days:
            cutoff = now - timedelta(days=policy.inactive_profile_days)
            stale = list(_inactive(cutoff).values_list("pk", flat=True))
            absorbed = list(
                Profile.objects.filter(merged_into__in=stale).values_list("pk", flat=True)
            )
            Event.objects.filter(profile_id__in=stale).delete()
            Profile.objects.filter(pk__in=absorbed).update(merged_into=None)
            deleted = Profile.objects.filter(pk__in=stale + absorbed).delete()[0]
            done.profiles = len(stale)
        policy.last_run_at, policy.last_deleted = now, deleted
        policy.save(update_fields=["last_run_at", "last_deleted"])
    audit_record(
        actor=actor,
        action="retention.run",
        object_type="retention",
        after={"events": done.events, "profiles": done.profiles},
    )
    return done
