from django.contrib.auth import get_user_model
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from cdpapp.roles import ROLE_CAPABILITIES
from cdpapp.selectors import user_role


class UserSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = get_user_model()
        fields = ["id", "username", "email", "role", "is_active", "date_joined", "last_login"]

    def get_role(self, user) -> str | None:
        role = user_role(user)
        return role.value if role else None


class MeSerializer(UserSerializer):
    capabilities = serializers.SerializerMethodField()

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "capabilities"]

    def get_capabilities(self, user) -> list[str]:
        role = user_role(user)
        return sorted(ROLE_CAPABILITIES[role]) if role else []


class MeView(APIView):
    """The signed-in user, their role and what it allows."""

    read_permission = "view_profiles"

    @extend_schema(responses=MeSerializer)
    def get(self, request):
        return Response(MeSerializer(request.user).data)


class UserListView(generics.ListAPIView):
    """Users and their roles (admins only)."""

    read_permission = "manage_users"
    serializer_class = UserSerializer

    def get_queryset(self):
        return get_user_model().objects.prefetch_related("groups").order_by("username")
