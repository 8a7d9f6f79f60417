from django.contrib import messages
from django.http import JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views import View
from django.views.generic import TemplateView

from cdpapp.access import RoleRequiredMixin
from cdpapp.api.errors import json_error
from cdpapp.forms import UserCreateForm, UserRoleForm
from cdpapp.roles import Role
from cdpapp.selectors import health_status, home_figures, user_list, user_role
from cdpapp.services import user_create, user_set_role

API_PREFIXES = ("/api/", "/v1/")


class HomeView(RoleRequiredMixin, View):
    """Where things stand: the figures the user's role may see, then where to go."""

    read_permission = "view_profiles"

    def get(self, request):
        figures = home_figures(user_role(request.user))
        return render(request, "cdpapp/home.html", {"figures": figures})


class DashboardsView(RoleRequiredMixin, TemplateView):
    template_name = "cdpapp/dashboards.html"
    read_permission = "view_dashboards"


class AdminHomeView(RoleRequiredMixin, TemplateView):
    template_name = "cdpapp/admin_home.html"
    read_permission = "manage_users"


class UserListView(RoleRequiredMixin, View):
    read_permission = "manage_users"
    write_permission = "manage_users"

    def get(self, request):
        return self._render(request, UserCreateForm())

    def post(self, request):
        form = UserCreateForm(request.POST)
        if not form.is_valid():
            return self._render(request, form, status=400)
        user = user_create(
            username=form.cleaned_data["username"],
            role=Role(form.cleaned_data["role"]),
            password=form.cleaned_data["password"],
            email=form.cleaned_data["email"],
            actor=request.user,
        )
        messages.success(request, f"User {user.username} created.")
        return redirect("users")

    def _render(self, request, form, status=200):
        context = {"users": user_list(), "form": form, "roles": list(Role)}
        return render(request, "cdpapp/users.html", context, status=status)


class UserRoleView(RoleRequiredMixin, View):
    read_permission = "manage_users"
    write_permission = "manage_users"

    def post(self, request, pk: int):
        from django.contrib.auth import get_user_model

        user = get_object_or_404(get_user_model(), pk=pk)
        form = UserRoleForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose one of the roles: marketer, admin or analyst.")
            return redirect("users")
        if user == request.user and form.cleaned_data["role"] != Role.ADMIN:
            messages.error(request, "You cannot remove your own admin role.")
            return redirect("users")
        user_set_role(user=user, role=Role(form.cleaned_data["role"]), actor=request.user)
        messages.success(request, f"{user.username} is now {form.cleaned_data['role']}.")
        return redirect("users")


def healthz(request):
    """Public liveness and readiness: database, worker heartbeat age, queue depth."""
    health = health_status()
    return JsonResponse(health.as_dict(), status=200 if health.healthy else 503)


def _wants_json(request) -> bool:
    return request.path.startswith(API_PREFIXES)


def error_403(request, exception=None):
    if _wants_json(request):
        return json_error(403, "permission_denied", "Your role does not allow this.")
    return render(request, "403.html", status=403)


def error_404(request, exception=None):
    if _wants_json(request):
        return json_error(404, "not_found", f"No endpoint at {request.path}.")
    return render(request, "404.html", status=404)


def error_500(request):
    if _wants_json(request):
        return json_error(500, "server_error", "Something went wrong on our side; it is logged.")
    return render(request, "500.html", status=500)
