from django.urls import path

from segments import api

# Included at /api/ (no namespace): names start with "api-".
urlpatterns = [
    path("segments/", api.SegmentListView.as_view(), name="api-segments"),
    path("segments/preview", api.SegmentPreviewView.as_view(), name="api-segment-preview"),
    path("segments/overlap", api.SegmentOverlapView.as_view(), name="api-segment-overlap"),
    path("segments/<int:pk>/", api.SegmentDetailView.as_view(), name="api-segment"),
    path("segments/<int:pk>/refresh", api.SegmentRefreshView.as_view(), name="api-segment-refresh"),
    path("segments/<int:pk>/members", api.SegmentMembersView.as_view(), name="api-segment-members"),
    path(
        "segments/<int:pk>/versions",
        api.SegmentVersionsView.as_view(),
        name="api-segment-versions",
    ),
    path(
        "segments/<int:pk>/snapshots",
        api.SegmentSnapshotsView.as_view(),
        name="api-segment-snapshots",
    ),
    path(
        "profiles/<int:pk>/segments",
        api.ProfileSegmentsView.as_view(),
        name="api-profile-segments",
    ),
]
