from django.urls import path

from profiles.views import identity as views

# Included at /profiles/identity/ inside the `profiles` namespace.
urlpatterns = [
    path("", views.IdentityTypeListView.as_view(), name="identity-types"),
    path("types/new", views.IdentityTypeCreateView.as_view(), name="identity-type-create"),
    path(
        "types/simulate",
        views.IdentityTypeSimulateView.as_view(),
        name="identity-type-simulate-new",
    ),
    path("types/<int:pk>/", views.IdentityTypeEditView.as_view(), name="identity-type-edit"),
    path(
        "types/<int:pk>/simulate",
        views.IdentityTypeSimulateView.as_view(),
        name="identity-type-simulate",
    ),
    path("merge-settings", views.MergeSettingsView.as_view(), name="identity-merge-settings"),
    path("survivorship/", views.SurvivorshipRuleListView.as_view(), name="identity-survivorship"),
    path(
        "survivorship/<int:pk>/delete",
        views.SurvivorshipRuleDeleteView.as_view(),
        name="identity-survivorship-delete",
    ),
    path("history/", views.RuleChangeListView.as_view(), name="identity-history"),
    path("health/", views.IdentityHealthView.as_view(), name="identity-health"),
]
