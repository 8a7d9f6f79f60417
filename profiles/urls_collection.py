from django.urls import re_path

from profiles.views.collection import collect

# Matched with no trailing slash and no redirect: clients post to /v1/batch exactly.
urlpatterns = [
    re_path(r"^v1/(?P<endpoint>[a-z]+)$", collect, name="collect"),
]
