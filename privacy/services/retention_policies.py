"""Retention policies: set a source's raw-event limit or the global inactive-profile purge."""

from django.core.exceptions import ValidationError
from django.db import transaction

from cdpapp.audit import audit_record
from privacy.models import RetentionPolicy
from privacy.services.retention import retention_dry_run
from profiles.models import Source


def _snapshot(policy: RetentionPolicy | None) -> dict | None:
    if policy is None or policy.pk is None:
        return None
    return {
        "raw_event_days": policy.raw_event_days,
        "inactive_profile_days": policy.inactive_profile_days,
        "enabled": policy.enabled,
    }


def retention_policy_check(*, days: int | None, enabled: bool) -> None:
    """Refuse settings no policy may have (a ValidationError says why)."""
    if days is not None and days < 1:
        raise ValidationError({"days": ["Keep data at least one day."]})
    if enabled and days is None:
        raise ValidationError({"days": ["Give a number of days before enabling the policy."]})


def _apply(policy: RetentionPolicy, days: int | None, enabled: bool) -> None:
    retention_policy_check(days=days, enabled=enabled)
    if policy.source_id is None:
        policy.inactive_profile_days = days
    else:
        policy.raw_event_days = days
    policy.enabled = enabled


def _policy_for(source: Source | None) -> RetentionPolicy:
    found = RetentionPolicy.objects.select_for_update().filter(source=source).first()
    return found or RetentionPolicy(source=source)


@transaction.atomic
def retention_policy_set(
    *, source: Source | None, days: int | None, enabled: bool, actor=None
) -> RetentionPolicy:
    """Set how long `source` keeps raw events, or (source None) when inactive profiles go."""
    policy = _policy_for(source)
    before = _snapshot(policy)
    _apply(policy, days, enabled)
    policy.save()
    after = _snapshot(policy)
    if after != before:
        audit_record(
            actor=actor,
            action="retention_policy.changed" if before else "retention_policy.created",
            object_type="retention_policy",
            object_id=f"source:{source.pk}" if source else "profiles",
            before=before,
            after=after,
        )
    return policy


class _Discard(Exception):
    """Not an error: carries the count out of the savepoint it rolls back."""

    def __init__(self, count: int):
        self.count = count


def retention_policy_dry_run(*, source: Source | None, days: int | None) -> int:
    """How many events (or profiles, for source None) `days` would delete now; nothing changes.

    The settings are applied on a savepoint that is rolled back, so the count comes from the
    same dry run the scheduled policies use.
    """
    if days is None:
        return 0
    try:
        with transaction.atomic():
            policy = _policy_for(source)
            _apply(policy, days, policy.enabled)
            policy.save()
            plan = retention_dry_run()
            raise _Discard(plan.profiles if source is None else plan.events.get(source.pk, 0))
    except _Discard as done:
        return done.count
