from django.urls import path

from privacy import api

urlpatterns = [
    path("purposes/", api.PurposeListView.as_view(), name="api-purposes"),
    path("profiles/<int:pk>/consent", api.ProfileConsentView.as_view(), name="api-profile-consent"),
    path(
        "profiles/<int:pk>/preference-link",
        api.PreferenceLinkView.as_view(),
        name="api-preference-link",
    ),
    path("privacy-requests/", api.RequestListView.as_view(), name="api-privacy-requests"),
    path(
        "privacy-requests/<int:pk>/complete",
        api.RequestCompleteView.as_view(),
        name="api-privacy-request-complete",
    ),
    path(
        "privacy-requests/<int:pk>/reject",
        api.RequestRejectView.as_view(),
        name="api-privacy-request-reject",
    ),
    path("consent-conflicts/", api.ConsentConflictListView.as_view(), name="api-consent-conflicts"),
    path(
        "consent-conflicts/<int:pk>/resolve",
        api.ConsentConflictResolveView.as_view(),
        name="api-consent-conflict-resolve",
    ),
    path(
        "privacy-requests/<int:pk>/export",
        api.RequestExportView.as_view(),
        name="api-privacy-request-export",
    ),
]
