from django.urls import reverse

from cdpapp.access import user_may
from cdpapp.selectors import user_role

# (label, url name, capability needed to see it)
NAVIGATION = [
    ("Profiles", "profiles:index", "view_profiles"),
    ("Segments", "segments:index", "view_segments"),
    ("Activations", "activations:index", "view_activations"),
    ("Dashboards", "dashboards", "view_dashboards"),
    ("Admin", "admin-home", "manage_users"),
]


def navigation(request):
    """The navigation entries the signed-in user's role may use."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "user_role": None}
    items = []
    for label, url_name, capability in NAVIGATION:
        if user_may(user, capability):
            url = reverse(url_name)
            items.append({"label": label, "url": url, "active": request.path.startswith(url)})
    return {"nav_items": items, "user_role": user_role(user)}
