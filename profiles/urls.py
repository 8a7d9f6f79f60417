from django.urls import include, path

from profiles import views

app_name = "profiles"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("sources/", include("profiles.urls_sources")),
    path("imports/", include("profiles.urls_imports")),
    path("identity/", include("profiles.urls_identity")),
    path("matching/", include("profiles.urls_matching")),
    path("", include("profiles.urls_explorer")),
]
