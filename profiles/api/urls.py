from django.urls import path

from profiles.api import events, sources

# Included at /api/ (no namespace): names start with "api-".
urlpatterns = [
    path("sources/", sources.SourceListView.as_view(), name="api-sources"),
    path("sources/<int:pk>/", sources.SourceDetailView.as_view(), name="api-source"),
    path(
        "sources/<int:pk>/rotate-key",
        sources.SourceRotateKeyView.as_view(),
        name="api-source-rotate-key",
    ),
    path(
        "sources/<int:pk>/keys/<int:key_id>/revoke",
        sources.WriteKeyRevokeView.as_view(),
        name="api-source-revoke-key",
    ),
    path("events/", events.EventListView.as_view(), name="api-events"),
    path("failed-events/", events.FailedEventListView.as_view(), name="api-failed-events"),
    path(
        "failed-events/<int:pk>/replay",
        events.FailedEventReplayView.as_view(),
        name="api-failed-event-replay",
    ),
    path(
        "failed-events/<int:pk>/discard",
        events.FailedEventDiscardView.as_view(),
        name="api-failed-event-discard",
    ),
]
