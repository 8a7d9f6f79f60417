from django.urls import path

from privacy.views_public import PreferenceCentreView

urlpatterns = [
    path("preferences/<str:token>/", PreferenceCentreView.as_view(), name="preference-centre"),
]
