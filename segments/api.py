"""The segments REST API: CRUD, preview, refresh, members (JSON or a CSV export), versions,
snapshots, overlap, and the segments of one profile (for on-site personalisation).

Definitions are validated by segments.domain.definition; an invalid one answers 400 in the
project's error shape with the node at fault: details {"node_id": ..., "message": ...}.
"""

import csv
import json
from functools import cache
from pathlib import Path

from django.db.models import F
from django.db.models.fields.json import KT
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import exceptions, generics, renderers, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from cdpapp.api.errors import error_body
from profiles.selectors.profiles import profile_get, profile_resolve
from segments.domain.definition import DefinitionError
from segments.models import Segment, SegmentSnapshot, SegmentVersion
from segments.selectors import (
    profile_segments,
    segment_list,
    segment_members,
    segment_overlap,
    segment_preview,
    segment_versions,
    segments_by_ids,
)
from segments.services import (
    segment_archive,
    segment_create,
    segment_refresh,
    segment_update,
    segment_validate,
)

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "docs" / "segment-definition.schema.json"
CSV_COLUMNS = ("profile_id", "email", "first_name", "last_name", "entered_at")
MAX_OVERLAP = 10
MAX_SAMPLE = 100
EXAMPLE_DEFINITION = {
    "version": 1,
    "root": {
        "id": "g1",
        "type": "group",
        "op": "and",
        "children": [
            {
                "id": "n1",
                "type": "event",
                "event": "Product Viewed",
                "window": {"kind": "last_days", "days": 7},
                "count": {"operator": "gte", "value": 3},
            },
            {
                "id": "n2",
                "type": "event",
                "event": "Order Completed",
                "performed": False,
                "window": {"kind": "last_days", "days": 7},
            },
            {"id": "n3", "type": "consent", "purpose": "email_marketing", "status": "granted"},
        ],
    },
}


# --- The definition, documented from docs/segment-definition.schema.json -------------------------


class DefinitionField(serializers.JSONField):
    """A segment definition: a JSON object (see docs/segments.md)."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(
                "A definition is a JSON object with 'version' and 'root'."
            )
        return super().to_internal_value(data)


def _component(name: str) -> str:
    return "SegmentDefinition" + "".join(p[:1].upper() + p[1:] for p in name.split("_"))


def _to_openapi(schema):
    """JSON Schema (2020-12, OpenAPI-compatible subset) → OpenAPI 3.0: refs to components."""
    if isinstance(schema, list):
        return [_to_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in ("$schema", "$id", "$defs"):
            continue
        if key == "$ref":
            out[key] = "#/components/schemas/" + _component(value.rsplit("/", 1)[-1])
        elif key == "properties":
            # drf-spectacular's enum hook would merge same-named enums of different choices
            # (every window's "kind") into one component: wrapped, it leaves them alone.
            out[key] = {
                name: {"allOf": [sub]} if "enum" in sub else sub
                for name, sub in ((name, _to_openapi(sub)) for name, sub in value.items())
            }
        else:
            out[key] = _to_openapi(value)
    return out


@cache
def definition_components() -> dict[str, dict]:
    """The OpenAPI components of a definition, made from the JSON Schema in docs/."""
    schema = json.loads(SCHEMA_FILE.read_text())
    components = {_component(name): _to_openapi(sub) for name, sub in schema["$defs"].items()}
    components["SegmentDefinition"] = {**_to_openapi(schema), "example": EXAMPLE_DEFINITION}
    return components


class DefinitionFieldExtension(OpenApiSerializerFieldExtension):
    target_class = DefinitionField

    def map_serializer_field(self, auto_schema, direction):
        for name, schema in definition_components().items():
            auto_schema.registry.register_on_missing(
                ResolvedComponent(name, ResolvedComponent.SCHEMA, schema=schema, object=name)
            )
        return {"$ref": "#/components/schemas/SegmentDefinition"}


# --- Errors --------------------------------------------------------------------------------------


class SegmentErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="invalid, invalid_definition, not_found, conflict...")
    message = serializers.CharField()
    details = serializers.JSONField(
        help_text='For invalid_definition: {"node_id": id or null, "message": what is wrong}.'
    )


class SegmentErrorSerializer(serializers.Serializer):
    """The project's error shape: {"error": {"code", "message", "details"}}."""

    error = SegmentErrorBodySerializer()


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    meaning = {
        400: "Invalid body or parameters; an invalid definition names the node at fault.",
        403: "Your role does not allow this.",
        404: "Not found.",
        409: "Not possible in the current state.",
    }
    return {
        code: OpenApiResponse(SegmentErrorSerializer, description=meaning[code]) for code in codes
    }


INVALID_DEFINITION_EXAMPLE = OpenApiExample(
    "An invalid definition",
    status_codes=["400"],
    response_only=True,
    value=error_body(
        "invalid_definition",
        "n2: window kind must be one of ever, last_days, between_days_ago.",
        {
            "node_id": "n2",
            "message": "window kind must be one of ever, last_days, between_days_ago.",
        },
    ),
)


def _invalid_definition(exc: DefinitionError) -> Response:
    body = error_body(
        "invalid_definition", str(exc), {"node_id": exc.node_id, "message": exc.message}
    )
    return Response(body, status=status.HTTP_400_BAD_REQUEST)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "Not possible in the current state."


# --- Serializers ---------------------------------------------------------------------------------


class SegmentSerializer(serializers.ModelSerializer):
    definition = DefinitionField()
    owner = serializers.SerializerMethodField()

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "definition",
            "definition_version",
            "refresh",
            "refresh_minutes",
            "status",
            "last_error",
            "last_refreshed_at",
            "size",
            "archived",
            "owner",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "definition_version",
            "status",
            "last_error",
            "last_refreshed_at",
            "size",
            "archived",
            "owner",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {
            "refresh_minutes": {"min_value": 5, "max_value": 7 * 24 * 60},
            "size": {"help_text": "Current members, from stored membership."},
            "status": {"help_text": "ready, refreshing, or failed (see last_error)."},
        }

    def get_owner(self, segment) -> str | None:
        return segment.owner.get_username() if segment.owner_id else None


class SegmentVersionSerializer(serializers.ModelSerializer):
    definition = DefinitionField()
    saved_by = serializers.SerializerMethodField()

    class Meta:
        model = SegmentVersion
        fields = [
            "version",
            "definition",
            "saved_by",
            "saved_at",
            "size",
            "entered",
            "exited",
            "sample_entered",
            "sample_exited",
        ]
        extra_kwargs = {
            "size": {"help_text": "Members after the first refresh of this version."},
            "entered": {"help_text": "Profiles that entered against the previous version."},
            "exited": {"help_text": "Profiles that left against the previous version."},
            "sample_entered": {"help_text": "Up to 20 profile ids that entered."},
            "sample_exited": {"help_text": "Up to 20 profile ids that exited."},
        }

    def get_saved_by(self, version) -> str | None:
        return version.saved_by.get_username() if version.saved_by_id else None


class SegmentSnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = SegmentSnapshot
        fields = ["at", "size", "entered", "exited"]


class MemberSerializer(serializers.Serializer):
    profile_id = serializers.IntegerField()
    email = serializers.CharField(allow_null=True)
    first_name = serializers.CharField(allow_null=True)
    last_name = serializers.CharField(allow_null=True)
    entered_at = serializers.DateTimeField()


class PreviewRequestSerializer(serializers.Serializer):
    definition = DefinitionField()
    sample = serializers.IntegerField(
        default=10, min_value=0, max_value=MAX_SAMPLE, help_text="How many sample ids."
    )


class PreviewSerializer(serializers.Serializer):
    count = serializers.IntegerField(help_text="Profiles matching the whole definition now.")
    node_counts = serializers.DictField(
        child=serializers.IntegerField(),
        help_text="Profiles matching each node on its own, by node id (the root too).",
    )
    sample_ids = serializers.ListField(
        child=serializers.IntegerField(), help_text="Matching profiles, most recently seen first."
    )
    query_ms = serializers.FloatField(help_text="Time spent in the database, in milliseconds.")


class RefreshSerializer(serializers.Serializer):
    refreshed = serializers.BooleanField(help_text="false: see segment.status and last_error.")
    entered = serializers.IntegerField()
    exited = serializers.IntegerField()
    segment = SegmentSerializer()


class OverlapPairSerializer(serializers.Serializer):
    a = serializers.IntegerField()
    b = serializers.IntegerField()
    both = serializers.IntegerField(help_text="Profiles currently in both a and b.")


class OverlapSerializer(serializers.Serializer):
    sizes = serializers.DictField(
        child=serializers.IntegerField(), help_text="Current members, by segment id."
    )
    pairs = OverlapPairSerializer(many=True)
    all = serializers.IntegerField(help_text="Profiles currently in every one of the segments.")


class ProfileSegmentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    entered_at = serializers.DateTimeField()


class ProfileSegmentsSerializer(serializers.Serializer):
    profile_id = serializers.IntegerField(
        help_text="The active profile answered for (a merged id answers for its survivor)."
    )
    segments = ProfileSegmentSerializer(many=True)


# --- Views ---------------------------------------------------------------------------------------

SEGMENT_ID = OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Segment")


def _segment(pk: int) -> Segment:
    return get_object_or_404(Segment.objects.select_related("owner"), pk=pk)


class SegmentPermissions:
    read_permission = "view_segments"
    write_permission = "manage_segments"


@extend_schema_view(
    get=extend_schema(
        summary="List segments",
        parameters=[
            OpenApiParameter("archived", bool, description="true lists archived segments instead."),
            OpenApiParameter("status", str, enum=Segment.Status.values),
        ],
    ),
    post=extend_schema(
        summary="Create a segment",
        request=SegmentSerializer,
        responses={201: SegmentSerializer, **_errors(400, 403)},
        examples=[INVALID_DEFINITION_EXAMPLE],
    ),
)
class SegmentListView(SegmentPermissions, generics.ListAPIView):
    """Segments by name with their size, status and definition version; create one (its first
    refresh is queued)."""

    serializer_class = SegmentSerializer

    def get_queryset(self):
        archived = self.request.query_params.get("archived", "").lower() in ("1", "true", "yes")
        segments = segment_list(archived=archived).select_related("owner")
        wanted = self.request.query_params.get("status")
        return segments.filter(status=wanted) if wanted else segments

    def post(self, request):
        serializer = SegmentSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            segment = segment_create(
                name=data["name"],
                definition=data["definition"],
                owner=request.user,
                description=data.get("description", ""),
                refresh=data.get("refresh", Segment.Refresh.REALTIME),
                refresh_minutes=data.get("refresh_minutes"),
            )
        except DefinitionError as exc:
            return _invalid_definition(exc)
        return Response(SegmentSerializer(_segment(segment.pk)).data, status=201)


class SegmentDetailView(SegmentPermissions, APIView):
    """One segment. PUT/PATCH change it (a changed definition becomes a new version and its
    member diff is recorded at the next refresh); DELETE archives it (history is kept)."""

    @extend_schema(
        summary="Get a segment",
        parameters=[SEGMENT_ID],
        responses={200: SegmentSerializer, **_errors(404)},
    )
    def get(self, request, pk: int):
        return Response(SegmentSerializer(_segment(pk)).data)

    @extend_schema(
        summary="Replace a segment",
        parameters=[SEGMENT_ID],
        request=SegmentSerializer,
        responses={200: SegmentSerializer, **_errors(400, 403, 404)},
        examples=[INVALID_DEFINITION_EXAMPLE],
    )
    def put(self, request, pk: int):
        return self._update(request, pk, partial=False)

    @extend_schema(
        summary="Change a segment",
        parameters=[SEGMENT_ID],
        request=SegmentSerializer(partial=True),
        responses={200: SegmentSerializer, **_errors(400, 403, 404)},
        examples=[INVALID_DEFINITION_EXAMPLE],
    )
    def patch(self, request, pk: int):
        return self._update(request, pk, partial=True)

    @extend_schema(
        summary="Archive a segment",
        parameters=[SEGMENT_ID],
        responses={204: None, **_errors(403, 404)},
    )
    def delete(self, request, pk: int):
        segment_archive(segment=_segment(pk))
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _update(self, request, pk: int, *, partial: bool) -> Response:
        segment = _segment(pk)
        serializer = SegmentSerializer(segment, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        fields = dict(serializer.validated_data)
        definition = fields.pop("definition", None)
        try:
            segment_update(segment=segment, user=request.user, definition=definition, **fields)
        except DefinitionError as exc:
            return _invalid_definition(exc)
        return Response(SegmentSerializer(_segment(pk)).data)


class SegmentPreviewView(SegmentPermissions, APIView):
    """How many profiles a definition matches now, per node too, with a sample: nothing is
    saved. Node counts let a builder show each condition's reach."""

    @extend_schema(
        summary="Preview a definition",
        request=PreviewRequestSerializer,
        responses={200: PreviewSerializer, **_errors(400, 403)},
        examples=[
            OpenApiExample(
                "Viewed 3+ times, no order, consent",
                request_only=True,
                value={"definition": EXAMPLE_DEFINITION, "sample": 5},
            ),
            INVALID_DEFINITION_EXAMPLE,
        ],
    )
    def post(self, request):
        serializer = PreviewRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            definition = segment_validate(serializer.validated_data["definition"])
        except DefinitionError as exc:
            return _invalid_definition(exc)
        preview = segment_preview(definition, sample=serializer.validated_data["sample"])
        return Response(
            PreviewSerializer(
                {
                    "count": preview.count,
                    "node_counts": preview.node_counts,
                    "sample_ids": [profile.pk for profile in preview.sample],
                    "query_ms": preview.query_ms,
                }
            ).data
        )


class SegmentRefreshView(SegmentPermissions, APIView):
    """Recompute the segment's membership now and answer with who entered and exited. A failed
    refresh answers refreshed=false, with the error on the segment."""

    @extend_schema(
        summary="Refresh a segment now",
        request=None,
        parameters=[SEGMENT_ID],
        responses={200: RefreshSerializer, **_errors(403, 404, 409)},
    )
    def post(self, request, pk: int):
        segment = _segment(pk)
        if segment.archived:
            raise Conflict("An archived segment is not refreshed; restore it first.")
        change = segment_refresh(segment=segment)
        return Response(
            RefreshSerializer(
                {
                    "refreshed": change is not None,
                    "entered": len(change.entered) if change else 0,
                    "exited": len(change.exited) if change else 0,
                    "segment": _segment(pk),
                }
            ).data
        )


class CsvRenderer(renderers.BaseRenderer):
    """Chosen by `?format=csv` or `Accept: text/csv`; the view streams the rows itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return json.dumps(data).encode() if data is not None else b""


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(members):
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for row in members.values_list(*CSV_COLUMNS).iterator(chunk_size=2000):
        *head, entered_at = row
        yield writer.writerow([*head, entered_at.isoformat()])


class SegmentMembersView(SegmentPermissions, generics.ListAPIView):
    """Current members from stored membership, by profile id, with when they entered.
    `?format=csv` (or `Accept: text/csv`) streams all of them as a CSV file instead."""

    serializer_class = MemberSerializer
    renderer_classes = [renderers.JSONRenderer, CsvRenderer]

    @extend_schema(
        summary="Members of a segment",
        parameters=[
            SEGMENT_ID,
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv: export"),
        ],
        responses={
            (200, "application/json"): MemberSerializer(many=True),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="profile_id,email,first_name,last_name,entered_at, every member.",
            ),
            **_errors(404),
        },
    )
    def get(self, request, pk: int):
        members = self.get_queryset()
        if request.accepted_renderer.format == "csv":
            response = StreamingHttpResponse(_csv_rows(members), content_type="text/csv")
            response["Content-Disposition"] = f'attachment; filename="segment-{pk}-members.csv"'
            return response
        page = self.paginate_queryset(members.values(*CSV_COLUMNS))
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    def get_queryset(self):
        # The membership row joined by segment_members gives entered_at (the join is reused).
        return segment_members(_segment(self.kwargs["pk"])).annotate(
            profile_id=F("pk"),
            entered_at=F("memberships__entered_at"),
            email=KT("traits__email"),
            first_name=KT("traits__firstName"),
            last_name=KT("traits__lastName"),
        )

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON, even when a CSV was asked for.
        if isinstance(response, Response) and response.status_code >= 400:
            request.accepted_renderer = renderers.JSONRenderer()
            request.accepted_media_type = "application/json"
        return super().finalize_response(request, response, *args, **kwargs)


class SegmentVersionsView(SegmentPermissions, generics.ListAPIView):
    """Every saved definition, newest first, with its member diff against the previous one."""

    serializer_class = SegmentVersionSerializer

    @extend_schema(
        summary="Versions of a segment",
        parameters=[SEGMENT_ID],
        responses={200: SegmentVersionSerializer(many=True), **_errors(404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return segment_versions(_segment(self.kwargs["pk"]))


class SegmentSnapshotsView(SegmentPermissions, generics.ListAPIView):
    """The segment's size over time (one snapshot per refresh), newest first."""

    serializer_class = SegmentSnapshotSerializer

    @extend_schema(
        summary="Size snapshots of a segment",
        parameters=[SEGMENT_ID],
        responses={200: SegmentSnapshotSerializer(many=True), **_errors(404)},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return _segment(self.kwargs["pk"]).snapshots.order_by("-at", "-pk")


class SegmentOverlapView(SegmentPermissions, APIView):
    """How the current members of two or more segments overlap: sizes, every pair, and all."""

    @extend_schema(
        summary="Overlap of segments",
        parameters=[
            OpenApiParameter(
                "ids", str, required=True, description=f"2 to {MAX_OVERLAP} segment ids: 1,2,3"
            )
        ],
        responses={200: OverlapSerializer, **_errors(400, 404)},
    )
    def get(self, request):
        raw = [part.strip() for part in request.query_params.get("ids", "").split(",")]
        if not all(part.isdigit() for part in raw):
            raise exceptions.ValidationError({"ids": "Give segment ids separated by commas."})
        ids = list(dict.fromkeys(int(part) for part in raw))
        if not 2 <= len(ids) <= MAX_OVERLAP:
            raise exceptions.ValidationError({"ids": f"Give 2 to {MAX_OVERLAP} segment ids."})
        segments = segments_by_ids(ids)
        if len(segments) != len(ids):
            missing = sorted(set(ids) - {segment.pk for segment in segments})
            raise Http404(f"No segment {', '.join(map(str, missing))}.")
        overlap = segment_overlap(segments)
        data = {
            "sizes": {str(pk): size for pk, size in overlap["sizes"].items()},
            "pairs": [{"a": a, "b": b, "both": n} for (a, b), n in overlap["pairs"].items()],
            "all": overlap["all"],
        }
        return Response(OverlapSerializer(data).data)


class ProfileSegmentsView(APIView):
    """The segments a profile is in now, from stored membership: one indexed query, for on-site
    personalisation. A merged profile id answers for the profile it was merged into."""

    read_permission = "view_profiles"

    @extend_schema(
        summary="Segments of a profile",
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Profile")
        ],
        responses={200: ProfileSegmentsSerializer, **_errors(404)},
    )
    def get(self, request, pk: int):
        segments = self._current(pk)
        if not segments:  # nothing stored: an unknown id, a merged one, or truly no segment
            profile = profile_get(profile_id=pk)
            if profile is None:
                raise Http404(f"No profile {pk}.")
            if profile.merged_into_id is not None:
                survivor = profile_resolve(profile_id=pk)
                pk = survivor.pk if survivor else pk
                segments = self._current(pk)
        return Response(ProfileSegmentsSerializer({"profile_id": pk, "segments": segments}).data)

    @staticmethod
    def _current(profile_id: int) -> list[dict]:
        return list(
            profile_segments(profile_id)
            .filter(archived=False)
            .annotate(entered_at=F("memberships__entered_at"))
            .values("id", "name", "entered_at")
        )
