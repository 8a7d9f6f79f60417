"""Identity rules and identity health over the REST API (identity admins only)."""

from dataclasses import asdict

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from profiles.models import IdentityType
from profiles.selectors import identity_health as health
from profiles.selectors.identity_rules import identity_type_list, identity_type_simulate
from profiles.services.identity_rules import (
    TYPE_FIELDS,
    identity_type_clean,
    identity_type_update,
)


class IdentityTypeSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdentityType
        fields = ["name", *TYPE_FIELDS]
        read_only_fields = ["name"]


class IdentityTypeChangeSerializer(serializers.Serializer):
    """The fields a PATCH may change; the services validate the rules themselves."""

    normaliser = serializers.ChoiceField(choices=IdentityType.Normaliser.choices, required=False)
    pattern = serializers.CharField(allow_blank=True, max_length=200, required=False)
    default_region = serializers.CharField(max_length=3, required=False)
    trait_keys = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=100), required=False
    )
    priority = serializers.IntegerField(min_value=0, max_value=1000, required=False)
    max_per_profile = serializers.IntegerField(min_value=0, allow_null=True, required=False)
    blocked_values = serializers.ListField(
        child=serializers.CharField(allow_blank=True, max_length=255), required=False
    )
    verified = serializers.BooleanField(required=False)
    enabled = serializers.BooleanField(required=False)


def _changes(request) -> dict:
    unknown = sorted(set(request.data) - set(TYPE_FIELDS))
    if unknown:
        raise exceptions.ValidationError(
            {unknown[0]: f"Unknown or read-only field; changeable: {', '.join(TYPE_FIELDS)}."}
        )
    serializer = IdentityTypeChangeSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _as_api_error(exc: DjangoValidationError) -> exceptions.ValidationError:
    return exceptions.ValidationError(
        exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    )


class IdentityTypeListView(generics.ListAPIView):
    """Identity types and their resolution rules."""

    read_permission = "manage_identity"
    serializer_class = IdentityTypeSerializer

    def get_queryset(self):
        return identity_type_list()


class IdentityTypeDetailView(APIView):
    """One identity type; PATCH changes its rules (applied to events processed from now on)."""

    read_permission = "manage_identity"
    write_permission = "manage_identity"

    @extend_schema(responses=IdentityTypeSerializer)
    def get(self, request, name: str):
        return Response(IdentityTypeSerializer(get_object_or_404(IdentityType, name=name)).data)

    @extend_schema(request=IdentityTypeChangeSerializer, responses=IdentityTypeSerializer)
    def patch(self, request, name: str):
        identity_type = get_object_or_404(IdentityType, name=name)
        try:
            updated = identity_type_update(
                identity_type=identity_type, actor=request.user, **_changes(request)
            )
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from exc
        return Response(IdentityTypeSerializer(updated).data)


class SampleSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["merge", "split", "drop"])
    profiles = serializers.ListField(child=serializers.IntegerField())
    identifiers = serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    parts = serializers.ListField(
        child=serializers.ListField(child=serializers.ListField(child=serializers.CharField()))
    )


class ImpactSerializer(serializers.Serializer):
    observations = serializers.IntegerField()
    profiles_merged = serializers.IntegerField()
    merge_groups = serializers.IntegerField()
    profiles_split = serializers.IntegerField()
    identifiers_split_off = serializers.IntegerField()
    identifiers_dropped = serializers.IntegerField()
    profiles_losing_identifiers = serializers.IntegerField()
    identifiers_added = serializers.IntegerField()
    samples = SampleSerializer(many=True)


class IdentityTypeSimulateView(APIView):
    """What the changes in the body would do to today's profiles (nothing is saved)."""

    read_permission = "manage_identity"
    write_permission = "manage_identity"

    @extend_schema(request=IdentityTypeChangeSerializer, responses=ImpactSerializer)
    def post(self, request, name: str):
        proposed = get_object_or_404(IdentityType, name=name)
        for field, value in _changes(request).items():
            setattr(proposed, field, value)
        try:
            identity_type_clean(proposed)
        except DjangoValidationError as exc:
            raise _as_api_error(exc) from exc
        return Response(ImpactSerializer(identity_type_simulate(proposed=proposed)).data)


class ShareSerializer(serializers.Serializer):
    part = serializers.IntegerField()
    total = serializers.IntegerField()
    ratio = serializers.FloatField(allow_null=True)


class IdentityHealthSerializer(serializers.Serializer):
    mega_profiles = serializers.DictField(help_text="threshold, count, top [[profile, n]], alert")
    merge_rate = serializers.DictField(help_text="last_hour, hourly_average, spike")
    junk_identifiers = serializers.ListField(
        child=serializers.DictField(), help_text="id_type, value, count, last_seen, alert"
    )
    match_rate = ShareSerializer()
    completeness = serializers.DictField(child=ShareSerializer())
    events_without_profile = ShareSerializer()
    processor = serializers.DictField(
        help_text="lag_p50_seconds, lag_p95_seconds, lag_events, backlog, oldest_waiting_seconds"
    )


def _share(share: health.Share) -> dict:
    return {"part": share.part, "total": share.total, "ratio": share.ratio}


class IdentityHealthView(APIView):
    """Identity health alerts and metrics (mega-profiles, merge spikes, junk, match rate...)."""

    read_permission = "manage_identity"

    @extend_schema(responses=IdentityHealthSerializer)
    def get(self, request):
        mega, rate = health.mega_profiles(), health.merge_rate()
        lag, backlog = health.processor_lag(), health.processor_backlog()
        return Response(
            {
                "mega_profiles": {**asdict(mega), "alert": mega.count > 0},
                "merge_rate": {**asdict(rate), "spike": rate.spike},
                "junk_identifiers": [
                    {
                        "id_type": junk.id_type,
                        "value": junk.value,
                        "count": junk.count,
                        "last_seen": junk.last_seen,
                        "alert": junk.alert,
                    }
                    for junk in health.junk_identifiers()
                ],
                "match_rate": _share(health.match_rate()),
                "completeness": {
                    name: _share(share) for name, share in health.profile_completeness().items()
                },
                "events_without_profile": _share(health.events_without_profile()),
                "processor": {
                    "lag_p50_seconds": lag.p50_seconds,
                    "lag_p95_seconds": lag.p95_seconds,
                    "lag_events": lag.events,
                    "backlog": backlog.events,
                    "oldest_waiting_seconds": backlog.oldest_seconds,
                },
            }
        )
