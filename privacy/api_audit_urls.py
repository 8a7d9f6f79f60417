from django.urls import path

from privacy.api_audit import AuditEntryListView

urlpatterns = [
    path("audit/", AuditEntryListView.as_view(), name="api-audit"),
]
