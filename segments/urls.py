from django.urls import path

from segments import views

app_name = "segments"

urlpatterns = [
    path("", views.SegmentListView.as_view(), name="index"),
    path("new", views.SegmentCreateView.as_view(), name="create"),
    path("overlap", views.SegmentOverlapView.as_view(), name="overlap"),
    path("<int:pk>/", views.SegmentDetailView.as_view(), name="detail"),
    path("<int:pk>/edit", views.SegmentEditView.as_view(), name="edit"),
    path("<int:pk>/duplicate", views.SegmentDuplicateView.as_view(), name="duplicate"),
    path("<int:pk>/archive", views.SegmentArchiveView.as_view(), name="archive"),
    path("<int:pk>/refresh", views.SegmentRefreshView.as_view(), name="refresh"),
    # The builder's actions: each applies one tree edit to the posted draft and re-renders it.
    path("builder/add", views.BuilderAddView.as_view(), name="builder-add"),
    path("builder/remove", views.BuilderRemoveView.as_view(), name="builder-remove"),
    path("builder/move", views.BuilderMoveView.as_view(), name="builder-move"),
    path("builder/toggle", views.BuilderToggleView.as_view(), name="builder-toggle"),
    path("builder/update", views.BuilderUpdateView.as_view(), name="builder-update"),
    path("builder/preview", views.BuilderPreviewView.as_view(), name="builder-preview"),
]
