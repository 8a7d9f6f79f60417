"""Writes for the platform itself: roles, users, API tokens, worker heartbeats."""

import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from cdpapp.audit import audit_record
from cdpapp.models import Access, ApiToken, WorkerHeartbeat
from cdpapp.roles import CAPABILITIES, ROLE_CAPABILITIES, Role

User = get_user_model()


@transaction.atomic
def roles_sync() -> dict[Role, Group]:
    """Create the role groups and give each exactly its capabilities."""
    content_type = ContentType.objects.get_for_model(Access, for_concrete_model=False)
    permissions = {}
    for codename, name in CAPABILITIES.items():
        permission, _ = Permission.objects.update_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        permissions[codename] = permission
    groups = {}
    for role, capabilities in ROLE_CAPABILITIES.items():
        group, _ = Group.objects.get_or_create(name=role.group_name)
        group.permissions.set([permissions[codename] for codename in sorted(capabilities)])
        groups[role] = group
    return groups


@transaction.atomic
def user_create(
    *, username: str, role: Role, password: str | None = None, email: str = "", actor=None
):
    """Create a user holding exactly one role; a random password is set when none is given."""
    groups = roles_sync()
    user = User(username=username, email=email, is_staff=role is Role.ADMIN)
    user.set_password(password or secrets.token_urlsafe(12))
    user.full_clean(exclude=["password"])
    user.save()
    user.groups.set([groups[role]])
    audit_record(
        actor=actor, action="user.created", object_type="user", object_id=user.pk,
        after={"username": user.username, "role": role.value},
    )  # fmt: skip
    return user


@transaction.atomic
def user_set_role(*, user, role: Role, actor=None):
    """Give `user` exactly one role."""
    from cdpapp.selectors import user_role

    before = user_role(user)
    groups = roles_sync()
    user.groups.set([groups[role]])
    user.is_staff = role is Role.ADMIN
    user.save(update_fields=["is_staff"])
    audit_record(
        actor=actor, action="user.role_changed", object_type="user", object_id=user.pk,
        before={"role": before.value if before else None}, after={"role": role.value},
    )  # fmt: skip
    return user


def api_token_create(*, user, name: str = "default") -> tuple[ApiToken, str]:
    """Create an API token for `user`; returns the model and the token, which is never stored."""
    token = f"cdp_{secrets.token_urlsafe(32)}"
    api_token = ApiToken.objects.create(
        user=user, name=name, digest=ApiToken.digest_of(token), prefix=token[:10]
    )
    return api_token, token


def api_token_revoke(*, api_token: ApiToken) -> ApiToken:
    """Revoke an API token; it stops working at once."""
    api_token.revoked_at = timezone.now()
    api_token.save(update_fields=["revoked_at"])
    return api_token


def worker_heartbeat_record(*, cluster: str) -> WorkerHeartbeat:
    """Record that the worker cluster `cluster` ran a task just now."""
    beat, _ = WorkerHeartbeat.objects.update_or_create(
        cluster=cluster, defaults={"beat_at": timezone.now()}
    )
    return beat
