from django.urls import path

from profiles.views import explorer as views

# Included at /profiles/ inside the `profiles` namespace (the search page is profiles:index).
urlpatterns = [
    path("<int:pk>/", views.ProfileDetailView.as_view(), name="profile-detail"),
    path("<int:pk>/events/<int:event_pk>/", views.ProfileEventView.as_view(), name="profile-event"),
    path("merges/<int:entry_pk>/", views.MergeDetailView.as_view(), name="profile-merge-detail"),
    path("merges/<int:entry_pk>/undo", views.MergeUndoView.as_view(), name="profile-merge-undo"),
]
