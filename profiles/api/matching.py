"""The review queue's API: match candidates (list, one, approve, reject) and matching runs."""

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from profiles.api.schema import errors
from profiles.models import MatchCandidate, MatchRun
from profiles.selectors.matching import candidate_list, match_runs
from profiles.services.matching import (
    MatchReviewError,
    match_candidate_approve,
    match_candidate_reject,
    match_run_request,
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class FieldEvidenceSerializer(serializers.Serializer):
    field = serializers.CharField()
    label = serializers.CharField()
    a = serializers.CharField(help_text="Profile A's value as compared")
    b = serializers.CharField(help_text="Profile B's value as compared")
    level = serializers.CharField(help_text="exact, Jaro-Winkler ≥ 0.92, different, missing...")
    weight = serializers.FloatField(help_text="Evidence in bits: log2(m/u); 0 when missing")


class MatchCandidateSerializer(serializers.ModelSerializer):
    reviewed_by = serializers.CharField(
        source="reviewed_by.username", allow_null=True, default=None
    )
    evidence = serializers.SerializerMethodField(help_text="The score explained field by field")
    review_because = serializers.SerializerMethodField(
        help_text="Why a pair above the auto-merge threshold was held for review"
    )

    class Meta:
        model = MatchCandidate
        fields = [
            "id",
            "profile_a",
            "profile_b",
            "score",
            "status",
            "reason",
            "evidence",
            "review_because",
            "explanation",
            "created_at",
            "reviewed_by",
            "reviewed_at",
        ]

    @extend_schema_field(FieldEvidenceSerializer(many=True))
    def get_evidence(self, candidate) -> list[dict]:
        return (candidate.explanation or {}).get("fields") or []

    def get_review_because(self, candidate) -> list[str]:
        return (candidate.explanation or {}).get("review_because") or []


class MatchRunSerializer(serializers.ModelSerializer):
    requested_by = serializers.CharField(
        source="requested_by.username", allow_null=True, default=None
    )

    class Meta:
        model = MatchRun
        fields = [
            "id",
            "status",
            "trigger",
            "requested_by",
            "auto_merge_threshold",
            "review_threshold",
            "created_at",
            "started_at",
            "finished_at",
            "profiles",
            "pairs",
            "candidates",
            "merges",
            "held_for_review",
            "skipped_rejected",
            "seconds",
            "error",
        ]


STATUS = OpenApiParameter(
    "status",
    OpenApiTypes.STR,
    enum=MatchCandidate.Status.values,
    description="Only candidates with this status (default: all), best score first",
)
ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Candidate id")


class MatchCandidateListView(generics.ListAPIView):
    """Match candidates, best score first; `?status=pending` for the review queue."""

    read_permission = "manage_identity"
    serializer_class = MatchCandidateSerializer

    @extend_schema(parameters=[STATUS], responses={200: MatchCandidateSerializer(many=True)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        status_filter = self.request.query_params.get("status") or None
        if status_filter is not None and status_filter not in MatchCandidate.Status.values:
            choices = ", ".join(MatchCandidate.Status.values)
            raise exceptions.ValidationError({"status": [f"Must be one of {choices}."]})
        return candidate_list(status=status_filter)


class MatchCandidateDetailView(generics.RetrieveAPIView):
    """One match candidate with its field-by-field explanation."""

    read_permission = "manage_identity"
    serializer_class = MatchCandidateSerializer
    queryset = MatchCandidate.objects.select_related("reviewed_by")

    @extend_schema(parameters=[ID], responses={200: MatchCandidateSerializer, **errors(404)})
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class _DecisionView(APIView):
    write_permission = "manage_identity"

    def decide(self, candidate: MatchCandidate, user) -> MatchCandidate:
        raise NotImplementedError

    def post(self, request, pk: int):
        candidate = get_object_or_404(MatchCandidate, pk=pk)
        try:
            candidate = self.decide(candidate, request.user)
        except MatchReviewError as exc:
            raise Conflict(str(exc)) from exc
        return Response(MatchCandidateSerializer(candidate).data)


class MatchCandidateApproveView(_DecisionView):
    """Approve a pending candidate: its two profiles are merged (reason "review", undoable)."""

    @extend_schema(
        request=None,
        parameters=[ID],
        responses={200: MatchCandidateSerializer, **errors(404, 409)},
    )
    def post(self, request, pk: int):
        return super().post(request, pk)

    def decide(self, candidate, user):
        return match_candidate_approve(candidate=candidate, user=user)


class MatchCandidateRejectView(_DecisionView):
    """Reject a pending candidate: the pair is never proposed again."""

    @extend_schema(
        request=None,
        parameters=[ID],
        responses={200: MatchCandidateSerializer, **errors(404, 409)},
    )
    def post(self, request, pk: int):
        return super().post(request, pk)

    def decide(self, candidate, user):
        return match_candidate_reject(candidate=candidate, user=user)


class MatchRunListView(generics.ListAPIView):
    """Matching runs, newest first (GET), or queue one now (POST; the one already waiting if
    there is one)."""

    read_permission = "manage_identity"
    write_permission = "manage_identity"
    serializer_class = MatchRunSerializer

    def get_queryset(self):
        return match_runs()

    @extend_schema(request=None, responses={202: MatchRunSerializer})
    def post(self, request):
        run = match_run_request(user=request.user)
        return Response(MatchRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)
