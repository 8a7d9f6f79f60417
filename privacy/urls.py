from django.urls import path

from privacy import views, views_audit

app_name = "privacy"

# Included at /privacy/.
urlpatterns = [
    path("", views.OverviewView.as_view(), name="overview"),
    path("purposes/", views.PurposeListView.as_view(), name="purposes"),
    path("purposes/new", views.PurposeCreateView.as_view(), name="purpose-create"),
    path("purposes/<int:pk>/", views.PurposeEditView.as_view(), name="purpose-edit"),
    path("profiles/<int:pk>/consent", views.ProfileConsentView.as_view(), name="profile-consent"),
    path("requests/", views.RequestListView.as_view(), name="requests"),
    path("requests/<int:pk>/", views.RequestDetailView.as_view(), name="request-detail"),
    path(
        "requests/<int:pk>/complete",
        views.RequestCompleteView.as_view(),
        name="request-complete",
    ),
    path("requests/<int:pk>/export", views.RequestExportView.as_view(), name="request-export"),
    path("requests/<int:pk>/reject", views.RequestRejectView.as_view(), name="request-reject"),
    path("consent-conflicts/", views.ConsentConflictListView.as_view(), name="consent-conflicts"),
    path(
        "consent-conflicts/<int:pk>/resolve",
        views.ConsentConflictResolveView.as_view(),
        name="consent-conflict-resolve",
    ),
    path("retention/", views.RetentionView.as_view(), name="retention"),
    path("retention/run", views.RetentionRunView.as_view(), name="retention-run"),
    path("retention/<str:key>", views.RetentionPolicyView.as_view(), name="retention-policy"),
    path("audit/", views_audit.AuditLogView.as_view(), name="audit"),
    path("audit/export.csv", views_audit.AuditExportView.as_view(), name="audit-export"),
]
