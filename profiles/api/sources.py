"""REST API for sources and their write keys (capability manage_sources)."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from profiles.api.schema import errors
from profiles.domain.source_settings import limit_errors
from profiles.domain.tracking_plan import PlanError, validate_plan
from profiles.models import Source, WriteKey
from profiles.selectors.sources import (
    source_list_with_stats,
    source_write_key,
    source_write_keys,
)
from profiles.services.sources import (
    DEFAULT_GRACE,
    source_create,
    source_revoke_key,
    source_rotate_key,
    source_update,
)

MAX_GRACE_HOURS = 24 * 30
_LIMIT_FIELDS = ("max_message_bytes", "max_batch_bytes", "rate_limit_per_second")


class WriteKeySerializer(serializers.ModelSerializer):
    state = serializers.ChoiceField(
        choices=["live", "expiring", "expired", "revoked"],
        read_only=True,
        help_text="live; expiring (rotated, works until expires_at); expired; revoked.",
    )

    class Meta:
        model = WriteKey
        fields = ["id", "prefix", "created_at", "expires_at", "revoked_at", "state"]
        read_only_fields = fields


class SourceSerializer(serializers.ModelSerializer):
    events_24h = serializers.IntegerField(
        read_only=True, help_text="Events received in the last 24 hours."
    )
    failed_open = serializers.IntegerField(
        read_only=True, help_text="Failed events waiting to be replayed or discarded."
    )
    last_event_at = serializers.DateTimeField(read_only=True, allow_null=True)

    class Meta:
        model = Source
        fields = [
            "id",
            "name",
            "kind",
            "enabled",
            "max_message_bytes",
            "max_batch_bytes",
            "rate_limit_per_second",
            "tracking_plan",
            "tracking_plan_mode",
            "created_at",
            "events_24h",
            "failed_open",
            "last_event_at",
        ]
        read_only_fields = ["id", "created_at"]

    def validate_tracking_plan(self, value):
        try:
            return validate_plan(value)
        except PlanError as exc:
            raise serializers.ValidationError(str(exc)) from None

    def validate(self, attrs):
        def current(name):
            if name in attrs:
                return attrs[name]
            if self.instance is not None:
                return getattr(self.instance, name)
            return Source._meta.get_field(name).get_default()

        if any(name in attrs for name in _LIMIT_FIELDS):
            errors = limit_errors(
                max_message_bytes=current("max_message_bytes"),
                max_batch_bytes=current("max_batch_bytes"),
                rate_limit_per_second=current("rate_limit_per_second"),
                hard_cap=settings.COLLECT_MAX_BODY_BYTES,
            )
            if errors:
                raise serializers.ValidationError(errors)
        return attrs


class SourceCreatedSerializer(SourceSerializer):
    write_key = serializers.CharField(
        read_only=True, help_text="The source's write key: shown in this response only."
    )

    class Meta(SourceSerializer.Meta):
        fields = [*SourceSerializer.Meta.fields, "write_key"]


class SourceDetailSerializer(SourceSerializer):
    write_keys = serializers.SerializerMethodField()

    class Meta(SourceSerializer.Meta):
        fields = [*SourceSerializer.Meta.fields, "write_keys"]

    @extend_schema_field(WriteKeySerializer(many=True))
    def get_write_keys(self, source: Source) -> list[dict]:
        return WriteKeySerializer(source_write_keys(source), many=True).data


def _save(call, **kwargs):
    """Run a service, turning the model's own validation errors into a 400 in our shape."""
    try:
        return call(**kwargs)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from None


class SourceListView(generics.ListCreateAPIView):
    """Sources with their last 24 hours of volume; create one (its write key is returned once)."""

    read_permission = "manage_sources"
    write_permission = "manage_sources"
    serializer_class = SourceSerializer

    def get_queryset(self):
        return source_list_with_stats()

    @extend_schema(
        request=SourceSerializer, responses={201: SourceCreatedSerializer, **errors(400, 401, 403)}
    )
    def post(self, request, *args, **kwargs):
        serializer = SourceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        source, key = _save(source_create, **serializer.validated_data)
        created = source_list_with_stats().get(pk=source.pk)
        data = {**SourceSerializer(created).data, "write_key": key}
        return Response(data, status=status.HTTP_201_CREATED)


@extend_schema_view(
    get=extend_schema(responses={200: SourceDetailSerializer, **errors(401, 403, 404)}),
    patch=extend_schema(responses={200: SourceDetailSerializer, **errors(400, 401, 403, 404)}),
)
class SourceDetailView(generics.RetrieveUpdateAPIView):
    """One source, its settings and its write keys; PATCH changes the settings."""

    read_permission = "manage_sources"
    write_permission = "manage_sources"
    serializer_class = SourceDetailSerializer
    http_method_names = ["get", "patch", "head", "options"]

    def get_queryset(self):
        return source_list_with_stats()

    def perform_update(self, serializer):
        _save(source_update, source=serializer.instance, **serializer.validated_data)


class RotateKeyRequestSerializer(serializers.Serializer):
    grace_hours = serializers.IntegerField(
        min_value=0,
        max_value=MAX_GRACE_HOURS,
        default=int(DEFAULT_GRACE.total_seconds() // 3600),
        help_text="How long the keys being replaced keep working.",
    )


class RotatedKeySerializer(serializers.Serializer):
    write_key = serializers.CharField(help_text="The new write key: shown in this response only.")
    write_keys = WriteKeySerializer(many=True)


class _SourceActionView(APIView):
    read_permission = "manage_sources"
    write_permission = "manage_sources"

    def get_source(self, pk: int) -> Source:
        return get_object_or_404(Source, pk=pk)


class SourceRotateKeyView(_SourceActionView):
    """Issue a new write key; the current ones keep working for the grace period, then stop."""

    @extend_schema(
        request=RotateKeyRequestSerializer,
        responses={201: RotatedKeySerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, pk: int):
        source = self.get_source(pk)
        serializer = RotateKeyRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        grace = timedelta(hours=serializer.validated_data["grace_hours"])
        key = source_rotate_key(source=source, grace=grace)
        data = {"write_key": key, "write_keys": source_write_keys(source)}
        return Response(RotatedKeySerializer(data).data, status=status.HTTP_201_CREATED)


class WriteKeyRevokeView(_SourceActionView):
    """Revoke one write key at once: collection calls with it get 401 from now on."""

    @extend_schema(request=None, responses={200: WriteKeySerializer, **errors(401, 403, 404)})
    def post(self, request, pk: int, key_id: int):
        source = self.get_source(pk)
        write_key = source_write_key(source, key_id)
        if write_key is None:
            raise Http404("No such write key on this source.")
        if write_key.revoked_at is None:
            source_revoke_key(write_key=write_key)
        return Response(WriteKeySerializer(source_write_key(source, key_id)).data)
