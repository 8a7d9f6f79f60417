from django.urls import path

from profiles.api import identity as views

# Included at /api/.
urlpatterns = [
    path("identity-types/", views.IdentityTypeListView.as_view(), name="api-identity-types"),
    path(
        "identity-types/<slug:name>/",
        views.IdentityTypeDetailView.as_view(),
        name="api-identity-type",
    ),
    path(
        "identity-types/<slug:name>/simulate",
        views.IdentityTypeSimulateView.as_view(),
        name="api-identity-type-simulate",
    ),
    path("identity-health", views.IdentityHealthView.as_view(), name="api-identity-health"),
]
