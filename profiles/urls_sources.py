from django.urls import path

from profiles.views import sources as views

# Included at /profiles/sources/ inside the `profiles` namespace.
urlpatterns = [
    path("", views.SourceListView.as_view(), name="source-list"),
    path("<int:pk>/", views.SourceDetailView.as_view(), name="source-detail"),
    path("<int:pk>/settings", views.SourceSettingsView.as_view(), name="source-settings"),
    path(
        "<int:pk>/tracking-plan",
        views.SourceTrackingPlanView.as_view(),
        name="source-tracking-plan",
    ),
    path("<int:pk>/keys/rotate", views.SourceRotateKeyView.as_view(), name="source-rotate-key"),
    path(
        "<int:pk>/keys/<int:key_pk>/revoke",
        views.WriteKeyRevokeView.as_view(),
        name="source-revoke-key",
    ),
    path("<int:pk>/debugger", views.SourceDebuggerView.as_view(), name="source-debugger"),
    path(
        "<int:pk>/failed/replay-all",
        views.FailedEventsReplayAllView.as_view(),
        name="source-failed-replay-all",
    ),
    path(
        "<int:pk>/failed/<int:failed_pk>/replay",
        views.FailedEventReplayView.as_view(),
        name="source-failed-replay",
    ),
    path(
        "<int:pk>/failed/<int:failed_pk>/discard",
        views.FailedEventDiscardView.as_view(),
        name="source-failed-discard",
    ),
]
