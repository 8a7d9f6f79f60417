from django.urls import include, path

from profiles import views

app_name = "profiles"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
    path("sources/", include("profiles.urls_sources")),
    path("imports/", include("profiles.urls_imports")),
]
