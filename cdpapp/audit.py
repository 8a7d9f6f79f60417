"""The audit log: one call records who changed what, with the state before and after."""

from cdpapp.models import AuditEntry


def audit_record(
    *,
    actor,
    action: str,
    object_type: str,
    object_id: object = "",
    before: object = None,
    after: object = None,
) -> AuditEntry:
    """Append one entry. Values must be JSON; never put raw PII in them (ids, not emails)."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return AuditEntry.objects.create(
        actor=user,
        actor_name=user.get_username() if user else (str(actor) if actor else "system"),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        before=before,
        after=after,
    )
