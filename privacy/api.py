"""REST API for consent, purposes, preference links and data-subject requests."""

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from privacy.models import ConsentConflict, DataSubjectRequest, Purpose
from privacy.preferences import preference_url
from privacy.selectors import consent_conflicts_list, requests_list
from privacy.services.consent import (
    LEGAL_BASES,
    STATUSES,
    ConsentError,
    consent_history,
    consent_record,
)
from privacy.services.consent_conflicts import ConsentConflictError, consent_conflict_resolve
from privacy.services.requests import (
    RequestError,
    request_complete_access,
    request_complete_erasure,
    request_create,
    request_reject,
)
from profiles.models import Profile
from profiles.selectors.profiles import profile_resolve


class PurposeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Purpose
        fields = ["slug", "name", "description", "version", "defaults", "validity_days"]


class PurposeListView(generics.ListAPIView):
    """The purposes people can consent to."""

    read_permission = "view_profiles"
    serializer_class = PurposeSerializer
    queryset = Purpose.objects.order_by("name")


class ConsentInSerializer(serializers.Serializer):
    purpose = serializers.SlugField()
    status = serializers.ChoiceField(choices=STATUSES)
    legal_basis = serializers.ChoiceField(choices=LEGAL_BASES, default="consent")
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    evidence = serializers.DictField(required=False, help_text="Proof: form id, text shown, ...")


class ConsentDecisionSerializer(serializers.Serializer):
    timestamp = serializers.DateTimeField()
    source = serializers.CharField(source="source.name")
    choices = serializers.DictField(source="consent")
    details = serializers.DictField(source="properties")


def _profile(pk: int) -> Profile:
    profile = profile_resolve(profile_id=pk)
    if profile is None:
        raise Http404(f"No profile {pk}.")
    return profile


class ProfileConsentView(APIView):
    """A profile's current consent and history (GET); record a decision (POST)."""

    read_permission = "view_profiles"
    write_permission = "manage_consent"

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        profile = _profile(pk)
        history = ConsentDecisionSerializer(consent_history(profile)[:200], many=True).data
        return Response({"profile": profile.pk, "current": profile.consent, "history": history})

    @extend_schema(request=ConsentInSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int):
        data = ConsentInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            consent_record(
                profile=_profile(pk), channel="api", actor=request.user, **data.validated_data
            )
        except ConsentError as exc:
            raise serializers.ValidationError({"purpose": [str(exc)]}) from exc
        profile = _profile(pk)
        return Response({"profile": profile.pk, "current": profile.consent}, status=201)


class PreferenceLinkView(APIView):
    """A signed link to the person's preference centre, to put in emails."""

    read_permission = "manage_consent"
    write_permission = "manage_consent"

    @extend_schema(request=OpenApiTypes.OBJECT, responses=OpenApiTypes.OBJECT)
    def post(self, request, pk: int):
        profile = _profile(pk)
        unsubscribe = request.data.get("unsubscribe") if hasattr(request.data, "get") else None
        return Response({"url": preference_url(request, profile.pk, unsubscribe)})


class RequestSerializer(serializers.ModelSerializer):
    overdue = serializers.SerializerMethodField()

    class Meta:
        model = DataSubjectRequest
        fields = [
            "id",
            "kind",
            "regulation",
            "status",
            "subject_type",
            "subject_value",
            "profile",
            "requested_at",
            "due_at",
            "completed_at",
            "rejection_reason",
            "steps",
            "overdue",
        ]
        read_only_fields = [
            "status",
            "profile",
            "requested_at",
            "due_at",
            "completed_at",
            "rejection_reason",
            "steps",
        ]

    def get_overdue(self, obj) -> bool:
        from django.utils import timezone

        return obj.status == "open" and obj.due_at < timezone.now()


class RequestListView(generics.ListCreateAPIView):
    """Data-subject requests (GET) and opening one (POST: kind, regulation, subject)."""

    read_permission = "manage_privacy"
    write_permission = "manage_privacy"
    serializer_class = RequestSerializer

    def get_queryset(self):
        return requests_list(status=self.request.query_params.get("status"))

    def create(self, request, *args, **kwargs):
        data = request.data
        try:
            created = request_create(
                kind=data.get("kind", ""),
                regulation=data.get("regulation", "gdpr"),
                subject_type=data.get("subject_type", ""),
                subject_value=str(data.get("subject_value", "")),
                actor=request.user,
            )
        except RequestError as exc:
            raise serializers.ValidationError({"request": [str(exc)]}) from exc
        return Response(RequestSerializer(created).data, status=status.HTTP_201_CREATED)


class RequestCompleteView(APIView):
    """Carry out an open request: build the access export, or erase the person."""

    read_permission = "manage_privacy"
    write_permission = "manage_privacy"

    @extend_schema(request=None, responses=RequestSerializer)
    def post(self, request, pk: int):
        found = get_object_or_404(DataSubjectRequest, pk=pk)
        complete = request_complete_access if found.kind == "access" else request_complete_erasure
        try:
            done = complete(request=found, actor=request.user)
        except RequestError as exc:
            raise serializers.ValidationError({"request": [str(exc)]}) from exc
        return Response(RequestSerializer(done).data)


class RequestExportView(APIView):
    """The JSON export of a completed access request."""

    read_permission = "manage_privacy"

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, pk: int):
        found = get_object_or_404(DataSubjectRequest, pk=pk, kind="access")
        if found.export is None:
            raise Http404("No export: the request is not complete, or the person was erased.")
        response = Response(found.export)
        response["Content-Disposition"] = f'attachment; filename="access-request-{pk}.json"'
        return response


class RequestRejectInSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Why, for the reply to the person.")


class RequestRejectView(APIView):
    """Close an open request without carrying it out, with the reason."""

    read_permission = "manage_privacy"
    write_permission = "manage_privacy"

    @extend_schema(request=RequestRejectInSerializer, responses=RequestSerializer)
    def post(self, request, pk: int):
        found = get_object_or_404(DataSubjectRequest, pk=pk)
        data = RequestRejectInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            done = request_reject(
                request=found, reason=data.validated_data["reason"], actor=request.user
            )
        except RequestError as exc:
            raise serializers.ValidationError({"request": [str(exc)]}) from exc
        return Response(RequestSerializer(done).data)


class ConsentConflictSerializer(serializers.ModelSerializer):
    resolved_by = serializers.CharField(source="resolved_by.username", default=None)

    class Meta:
        model = ConsentConflict
        fields = [
            "id",
            "profile",
            "absorbed",
            "merge",
            "purpose",
            "survivor_decision",
            "absorbed_decision",
            "survivor_decided_at",
            "absorbed_decided_at",
            "kept",
            "detected_at",
            "status",
            "resolved_at",
            "resolved_by",
            "resolution",
        ]


class ConsentConflictListView(generics.ListAPIView):
    """Consent conflicts found at merges (`?status=open` or `resolved`), newest first."""

    read_permission = "manage_consent"
    serializer_class = ConsentConflictSerializer

    def get_queryset(self):
        chosen = self.request.query_params.get("status")
        known = chosen in ConsentConflict.Status.values
        return consent_conflicts_list(status=chosen if known else None)


class ConsentConflictResolveInSerializer(serializers.Serializer):
    resolution = serializers.CharField(
        max_length=1000, required=False, allow_blank=True, help_text="What was done about it."
    )


class ConsentConflictResolveView(APIView):
    """Mark a consent conflict resolved."""

    read_permission = "manage_consent"
    write_permission = "manage_consent"

    @extend_schema(request=ConsentConflictResolveInSerializer, responses=ConsentConflictSerializer)
    def post(self, request, pk: int):
        conflict = get_object_or_404(ConsentConflict, pk=pk)
        data = ConsentConflictResolveInSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            done = consent_conflict_resolve(
                conflict=conflict,
                actor=request.user,
                resolution=data.validated_data.get("resolution", ""),
            )
        except ConsentConflictError as exc:
            raise serializers.ValidationError({"conflict": [str(exc)]}) from exc
        return Response(ConsentConflictSerializer(done).data)
