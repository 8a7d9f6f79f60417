"""The profile API: search, one profile, lookup by identifier, its events, identifiers, merges,
and undoing a merge."""

from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from profiles.models import Event, Identity, MergeEntry, Profile
from profiles.selectors.profiles import (
    ProfileLookupError,
    merge_entry_get,
    merge_entry_undoable,
    profile_consent,
    profile_events,
    profile_get,
    profile_identifiers,
    profile_lookup,
    profile_merge_history,
    profile_resolve,
    profile_search,
    profile_traits,
)
from profiles.services.merges import MergeError, profile_unmerge


class ProfileErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="invalid, not_found, permission_denied, conflict...")
    message = serializers.CharField()
    details = serializers.JSONField()


class ProfileErrorSerializer(serializers.Serializer):
    """The project's error shape: {"error": {"code", "message", "details"}}."""

    error = ProfileErrorBodySerializer()


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


# --- Serializers ----------------------------------------------------------------------------------


class ProfileSummarySerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="display_name", allow_null=True, read_only=True)
    email = serializers.CharField(source="display_email", allow_null=True, read_only=True)

    class Meta:
        model = Profile
        fields = ["id", "name", "email", "first_seen", "last_seen", "traits", "computed"]


class ProfileIdentifierSerializer(serializers.ModelSerializer):
    type = serializers.CharField(source="id_type")
    source = serializers.IntegerField(source="source_id", allow_null=True)
    source_name = serializers.SerializerMethodField()

    class Meta:
        model = Identity
        fields = ["type", "value", "source", "source_name", "first_seen", "last_seen"]

    def get_source_name(self, identity) -> str | None:
        return identity.source.name if identity.source_id else None


class TraitLineageSerializer(serializers.Serializer):
    source = serializers.IntegerField(allow_null=True)
    source_name = serializers.CharField(allow_null=True)
    event = serializers.IntegerField(allow_null=True)
    at = serializers.DateTimeField(allow_null=True)


class ProfileConsentSerializer(serializers.Serializer):
    granted = serializers.BooleanField()
    at = serializers.DateTimeField(allow_null=True)
    source = serializers.IntegerField(allow_null=True)
    source_name = serializers.CharField(allow_null=True)
    event = serializers.IntegerField(allow_null=True)


class ProfileDetailSerializer(serializers.ModelSerializer):
    """A profile. When it was merged, `merged_into` is the active profile that holds its data."""

    name = serializers.CharField(source="display_name", allow_null=True, read_only=True)
    email = serializers.CharField(source="display_email", allow_null=True, read_only=True)
    lineage = serializers.SerializerMethodField()
    consent = serializers.SerializerMethodField()
    identifiers = serializers.SerializerMethodField()
    merged_into = serializers.SerializerMethodField()

    class Meta:
        model = Profile
        fields = [
            "id",
            "name",
            "email",
            "first_seen",
            "last_seen",
            "merged_into",
            "traits",
            "lineage",
            "computed",
            "consent",
            "identifiers",
        ]

    @extend_schema_field(serializers.DictField(child=TraitLineageSerializer()))
    def get_lineage(self, profile) -> dict:
        return {
            row.key: {
                "source": row.source_id,
                "source_name": row.source_name,
                "event": row.event_id,
                "at": row.at,
            }
            for row in profile_traits(profile=profile)
        }

    @extend_schema_field(serializers.DictField(child=ProfileConsentSerializer()))
    def get_consent(self, profile) -> dict:
        return {
            row.purpose: {
                "granted": row.granted,
                "at": row.at,
                "source": row.source_id,
                "source_name": row.source_name,
                "event": row.event_id,
            }
            for row in profile_consent(profile=profile)
        }

    @extend_schema_field(ProfileIdentifierSerializer(many=True))
    def get_identifiers(self, profile) -> list:
        return ProfileIdentifierSerializer(profile_identifiers(profile=profile), many=True).data

    def get_merged_into(self, profile) -> int | None:
        if profile.merged_into_id is None:
            return None
        survivor = profile_resolve(profile_id=profile.pk)
        return survivor.pk if survivor else None


class ProfileEventSerializer(serializers.ModelSerializer):
    source_name = serializers.CharField(source="source.name", read_only=True)

    class Meta:
        model = Event
        fields = [
            "id",
            "message_id",
            "type",
            "name",
            "source",
            "source_name",
            "timestamp",
            "received_at",
            "user_id",
            "anonymous_id",
            "properties",
            "traits",
            "context",
        ]


class ProfileMergeEntrySerializer(serializers.ModelSerializer):
    actor = serializers.SerializerMethodField()
    undone_at = serializers.SerializerMethodField()
    undoes = serializers.SerializerMethodField()
    undoable = serializers.SerializerMethodField()

    class Meta:
        model = MergeEntry
        fields = [
            "id",
            "kind",
            "survivor",
            "absorbed",
            "reason",
            "rule",
            "id_type",
            "id_value",
            "event",
            "score",
            "actor",
            "at",
            "undone_by",
            "undone_at",
            "undoes",
            "undoable",
        ]

    def get_actor(self, entry) -> str | None:
        return entry.actor.get_username() if entry.actor_id else None

    def get_undone_at(self, entry) -> str | None:
        return entry.undone_by.at.isoformat() if entry.undone_by_id else None

    def get_undoes(self, entry) -> int | None:
        undoes = getattr(entry, "undoes", None)
        return undoes.pk if undoes is not None else None

    def get_undoable(self, entry) -> bool:
        return merge_entry_undoable(entry)


# --- Views ----------------------------------------------------------------------------------------

NOT_FOUND = {404: ProfileErrorSerializer}
PROFILE_ID = OpenApiParameter(
    "id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Profile id"
)


def _profile(pk: int) -> Profile:
    profile = profile_get(profile_id=pk)
    if profile is None:
        raise Http404(f"No profile {pk}.")
    return profile


class ProfileListView(generics.ListAPIView):
    """Active profiles, most recently seen first; `q` searches identifiers and traits."""

    read_permission = "view_profiles"
    serializer_class = ProfileSummarySerializer

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "q",
                str,
                description="Any identifier (normalised: email, phone...), a name or email "
                "substring, `trait=value`, or a profile id.",
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return profile_search(query=self.request.query_params.get("q", ""))


class ProfileDetailView(APIView):
    """One profile: traits with lineage, computed traits, consent, identifiers.

    A profile that was merged answers with `merged_into`, the id of the active profile that holds
    its identifiers and events now.
    """

    read_permission = "view_profiles"

    @extend_schema(parameters=[PROFILE_ID], responses={200: ProfileDetailSerializer, **NOT_FOUND})
    def get(self, request, pk: int):
        return Response(ProfileDetailSerializer(_profile(pk)).data)


class ProfileLookupView(APIView):
    """The profile holding one identifier; the value is normalised like collected ones."""

    read_permission = "view_profiles"

    @extend_schema(
        parameters=[
            OpenApiParameter("type", str, required=True, description="Identifier type: email..."),
            OpenApiParameter("value", str, required=True, description="As written anywhere"),
        ],
        responses={200: ProfileDetailSerializer, 400: ProfileErrorSerializer, **NOT_FOUND},
    )
    def get(self, request):
        id_type = request.query_params.get("type", "").strip()
        value = request.query_params.get("value", "")
        if not id_type or not value.strip():
            raise exceptions.ValidationError({"type": "Give both `type` and `value`."})
        try:
            profile = profile_lookup(id_type=id_type, value=value)
        except ProfileLookupError as exc:
            raise exceptions.ValidationError({"value": str(exc)}) from exc
        if profile is None:
            raise exceptions.NotFound(f"No profile has the {id_type} {value.strip()!r}.")
        return Response(ProfileDetailSerializer(profile).data)


class ProfileEventListView(generics.ListAPIView):
    """The profile's events, newest first; `name` keeps only events with that name."""

    read_permission = "view_profiles"
    serializer_class = ProfileEventSerializer

    @extend_schema(
        parameters=[PROFILE_ID, OpenApiParameter("name", str, description="Event name")],
        responses={200: ProfileEventSerializer(many=True), **NOT_FOUND},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        name = self.request.query_params.get("name") or None
        return profile_events(profile=_profile(self.kwargs["pk"]), name=name)


class ProfileIdentifierListView(generics.ListAPIView):
    """The profile's identifiers, by type then value."""

    read_permission = "view_profiles"
    serializer_class = ProfileIdentifierSerializer

    @extend_schema(
        parameters=[PROFILE_ID],
        responses={200: ProfileIdentifierSerializer(many=True), **NOT_FOUND},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return profile_identifiers(profile=_profile(self.kwargs["pk"]))


class ProfileMergeListView(generics.ListAPIView):
    """Merges, unmerges and dropped identifiers of the profile and profiles merged into it."""

    read_permission = "view_profiles"
    serializer_class = ProfileMergeEntrySerializer

    @extend_schema(
        parameters=[PROFILE_ID],
        responses={200: ProfileMergeEntrySerializer(many=True), **NOT_FOUND},
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        return profile_merge_history(profile=_profile(self.kwargs["pk"]))


class MergeUndoView(APIView):
    """Undo a merge (admins): the absorbed profile comes back with its own data.

    Answers with the new unmerge entry; 409 when the merge was already undone.
    """

    write_permission = "manage_identity"

    @extend_schema(
        request=None,
        parameters=[
            OpenApiParameter("id", OpenApiTypes.INT, OpenApiParameter.PATH, description="Merge id")
        ],
        responses={201: ProfileMergeEntrySerializer, 409: ProfileErrorSerializer, **NOT_FOUND},
    )
    def post(self, request, pk: int):
        entry = merge_entry_get(entry_id=pk)
        if entry is None:
            raise Http404(f"No merge {pk}.")
        try:
            undo = profile_unmerge(entry=entry, actor=request.user)
        except MergeError as exc:
            raise Conflict(str(exc)) from exc
        data = ProfileMergeEntrySerializer(merge_entry_get(entry_id=undo.pk)).data
        return Response(data, status=status.HTTP_201_CREATED)
