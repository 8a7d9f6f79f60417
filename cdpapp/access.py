"""Role enforcement for every page and API endpoint.

A view declares `read_permission` (for GET, HEAD, OPTIONS) and `write_permission` (for every
other method) as capability codenames from cdpapp.roles. A view that declares neither is refused
to everyone: forgetting the declaration fails closed, and tests/test_roles.py walks every URL.
"""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def required_capability(view, method: str) -> str | None:
    """The capability a request with `method` needs on `view`, or None if it declares none."""
    if method.upper() in SAFE_METHODS:
        return getattr(view, "read_permission", None)
    return getattr(view, "write_permission", None)


def user_may(user, capability: str | None) -> bool:
    """Whether `user` holds `capability` (None: nobody does)."""
    return bool(capability) and user.is_authenticated and user.has_perm(f"cdpapp.{capability}")


class RoleRequiredMixin(LoginRequiredMixin):
    """For Django views: anonymous users go to the login page, others need the capability."""

    read_permission: str | None = None
    write_permission: str | None = None

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not user_may(request.user, required_capability(self, request.method)):
            raise PermissionDenied("Your role does not allow this.")
        return super().dispatch(request, *args, **kwargs)


class RolePermission(BasePermission):
    """For DRF views: the default permission class; it needs the declared capability."""

    message = "Your role does not allow this."

    def has_permission(self, request, view) -> bool:
        return user_may(request.user, required_capability(view, request.method))
