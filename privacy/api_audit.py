"""REST API: the audit log, filtered as on the admin page (needs `manage_users`)."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers

from cdpapp.models import AuditEntry
from privacy.forms import AuditFilterForm
from privacy.selectors_admin import audit_entries


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name")

    class Meta:
        model = AuditEntry
        fields = ["id", "at", "actor", "action", "object_type", "object_id", "before", "after"]


FILTERS = [
    OpenApiParameter("action", str, description="An action, or a prefix ending in '.'"),
    OpenApiParameter("actor", str, description="Username (case-insensitive), or 'system'"),
    OpenApiParameter("object_type", str),
    OpenApiParameter("object_id", str),
    OpenApiParameter("since", str, description="First day, YYYY-MM-DD"),
    OpenApiParameter("until", str, description="Last day, YYYY-MM-DD (inclusive)"),
]


@extend_schema(parameters=FILTERS)
class AuditEntryListView(generics.ListAPIView):
    """Who changed what and when, with the state before and after; newest first."""

    read_permission = "manage_users"
    serializer_class = AuditEntrySerializer

    def get_queryset(self):
        form = AuditFilterForm(self.request.query_params)
        if not form.is_valid():
            raise serializers.ValidationError(form.errors.get_json_data())
        return audit_entries(**form.filters())
