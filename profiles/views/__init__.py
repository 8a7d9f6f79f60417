from django.views.generic import TemplateView

from cdpapp.access import RoleRequiredMixin


class IndexView(RoleRequiredMixin, TemplateView):
    template_name = "profiles/index.html"
    read_permission = "view_profiles"
