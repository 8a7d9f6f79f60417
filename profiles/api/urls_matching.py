from django.urls import path

from profiles.api import matching as views

# Included at /api/.
urlpatterns = [
    path("match-candidates/", views.MatchCandidateListView.as_view(), name="api-match-candidates"),
    path(
        "match-candidates/<int:pk>/",
        views.MatchCandidateDetailView.as_view(),
        name="api-match-candidate",
    ),
    path(
        "match-candidates/<int:pk>/approve",
        views.MatchCandidateApproveView.as_view(),
        name="api-match-candidate-approve",
    ),
    path(
        "match-candidates/<int:pk>/reject",
        views.MatchCandidateRejectView.as_view(),
        name="api-match-candidate-reject",
    ),
    path("match-runs/", views.MatchRunListView.as_view(), name="api-match-runs"),
]
