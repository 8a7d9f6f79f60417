from django.urls import path

from activations import views

app_name = "activations"

urlpatterns = [
    path("", views.IndexView.as_view(), name="index"),
]
