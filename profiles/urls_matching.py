from django.urls import path

from profiles.views import matching as views

# Included at /profiles/matching/ inside the `profiles` namespace.
urlpatterns = [
    path("", views.MatchQueueView.as_view(), name="matching-queue"),
    path("<int:pk>/", views.MatchCandidateView.as_view(), name="matching-candidate"),
    path("<int:pk>/approve", views.MatchApproveView.as_view(), name="matching-approve"),
    path("<int:pk>/reject", views.MatchRejectView.as_view(), name="matching-reject"),
    path("runs/", views.MatchRunsView.as_view(), name="matching-runs"),
]
