from django.urls import path

from profiles.views import imports as views

# Included at /profiles/imports/ inside the `profiles` namespace.
urlpatterns = [
    path("", views.ImportListView.as_view(), name="import-list"),
    path("new/", views.ImportNewView.as_view(), name="import-new"),
    path("new/<str:token>/", views.ImportMapView.as_view(), name="import-map"),
    path("<int:pk>/", views.ImportDetailView.as_view(), name="import-detail"),
    path("<int:pk>/retry", views.ImportRetryView.as_view(), name="import-retry"),
]
