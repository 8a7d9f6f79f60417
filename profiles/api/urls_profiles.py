from django.urls import path

from profiles.api import profiles as views

# Included at /api/.
urlpatterns = [
    path("profiles/", views.ProfileListView.as_view(), name="api-profile-list"),
    path("profiles/lookup", views.ProfileLookupView.as_view(), name="api-profile-lookup"),
    path("profiles/<int:pk>/", views.ProfileDetailView.as_view(), name="api-profile-detail"),
    path(
        "profiles/<int:pk>/events", views.ProfileEventListView.as_view(), name="api-profile-events"
    ),
    path(
        "profiles/<int:pk>/identifiers",
        views.ProfileIdentifierListView.as_view(),
        name="api-profile-identifiers",
    ),
    path(
        "profiles/<int:pk>/merges", views.ProfileMergeListView.as_view(), name="api-profile-merges"
    ),
    path("merges/<int:pk>/undo", views.MergeUndoView.as_view(), name="api-merge-undo"),
]
