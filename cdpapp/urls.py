from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from cdpapp import views
from cdpapp.api import views as api_views

urlpatterns = [
    path("", views.HomeView.as_view(), name="home"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico on pages without a <link rel="icon"> (JSON, /healthz).
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg")), name="favicon"),
    path("dashboards/", views.DashboardsView.as_view(), name="dashboards"),
    path("admin/", views.AdminHomeView.as_view(), name="admin-home"),
    path("admin/users/", views.UserListView.as_view(), name="users"),
    path("admin/users/<int:pk>/role", views.UserRoleView.as_view(), name="user-role"),
    path("", include("profiles.urls_collection")),
    path("profiles/", include("profiles.urls")),
    path("", include("privacy.urls_public")),
    path("segments/", include("segments.urls")),
    path("activations/", include("activations.urls")),
    path("privacy/", include("privacy.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/me", api_views.MeView.as_view(), name="api-me"),
    path("api/users/", api_views.UserListView.as_view(), name="api-users"),
    path("api/", include("profiles.api.urls")),
    path("api/", include("privacy.api_urls")),
    path("api/", include("privacy.api_audit_urls")),
    path("api/", include("profiles.api.urls_profiles")),
    path("api/", include("profiles.api.urls_matching")),
    path("api/", include("profiles.api.urls_identity")),
    path("api/", include("segments.api_urls")),
]

handler403 = "cdpapp.views.error_403"
handler404 = "cdpapp.views.error_404"
handler500 = "cdpapp.views.error_500"
