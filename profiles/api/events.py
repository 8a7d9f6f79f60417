"""REST API for collected events (view_profiles) and failed events (manage_sources)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from profiles.api.schema import errors
from profiles.domain.messages import MESSAGE_TYPES
from profiles.models import Event, FailedEvent
from profiles.selectors.events import event_list, failed_event_list
from profiles.services.failed_events import (
    FailedEventError,
    failed_event_discard,
    failed_event_replay,
)


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The failed event is not in a state that allows this."


class EventSerializer(serializers.ModelSerializer):
    class Meta:
        model = Event
        fields = [
            "id",
            "source",
            "message_id",
            "type",
            "name",
            "user_id",
            "anonymous_id",
            "group_id",
            "previous_id",
            "timestamp",
            "original_timestamp",
            "sent_at",
            "received_at",
            "properties",
            "traits",
            "context",
            "integrations",
            "extra",
            "consent",
            "violations",
            "processed_at",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "name": {"help_text": "The track event's name, or the page or screen name."},
            "extra": {"help_text": "Top-level keys of the message outside the Segment Spec."},
            "violations": {"help_text": "What the event breaks in its source's tracking plan."},
        }


class EventFilterSerializer(serializers.Serializer):
    source = serializers.IntegerField(required=False, help_text="Source id.")
    type = serializers.ChoiceField(choices=sorted(MESSAGE_TYPES), required=False)
    event = serializers.CharField(required=False, help_text="Event (or page/screen) name.")
    userId = serializers.CharField(required=False)  # the Segment Spec spells them so
    anonymousId = serializers.CharField(required=False)
    messageId = serializers.CharField(required=False)
    since = serializers.DateTimeField(required=False, help_text="Received at or after (ISO 8601).")
    until = serializers.DateTimeField(required=False, help_text="Received before (ISO 8601).")


def _filters(serializer_class, request) -> dict:
    serializer = serializer_class(data=request.query_params)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


@extend_schema_view(
    get=extend_schema(
        parameters=[EventFilterSerializer],
        responses={200: EventSerializer(many=True), **errors(400, 401, 403)},
    )
)
class EventListView(generics.ListAPIView):
    """Collected events, newest first (by the time they were received)."""

    read_permission = "view_profiles"
    serializer_class = EventSerializer

    def get_queryset(self):
        given = _filters(EventFilterSerializer, self.request)
        return event_list(
            source_id=given.get("source"),
            message_type=given.get("type"),
            name=given.get("event"),
            user_id=given.get("userId"),
            anonymous_id=given.get("anonymousId"),
            message_id=given.get("messageId"),
            since=given.get("since"),
            until=given.get("until"),
        )


class FailedEventSerializer(serializers.ModelSerializer):
    replayed_by = serializers.SlugRelatedField(slug_field="username", read_only=True)

    class Meta:
        model = FailedEvent
        fields = [
            "id",
            "source",
            "endpoint",
            "payload",
            "raw",
            "code",
            "reason",
            "received_at",
            "status",
            "replayed_at",
            "replayed_by",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "payload": {"help_text": "The message as received (or as last corrected)."},
            "raw": {"help_text": "The start of a request body that could not be decoded."},
        }


class FailedEventFilterSerializer(serializers.Serializer):
    source = serializers.IntegerField(required=False, help_text="Source id.")
    code = serializers.CharField(required=False, help_text="e.g. missing_event, tracking_plan.")
    status = serializers.ChoiceField(choices=FailedEvent.Status.choices, required=False)


@extend_schema_view(
    get=extend_schema(
        parameters=[FailedEventFilterSerializer],
        responses={200: FailedEventSerializer(many=True), **errors(400, 401, 403)},
    )
)
class FailedEventListView(generics.ListAPIView):
    """Messages and requests that could not be accepted, newest first, with their reasons."""

    read_permission = "manage_sources"
    serializer_class = FailedEventSerializer

    def get_queryset(self):
        given = _filters(FailedEventFilterSerializer, self.request)
        return failed_event_list(
            source_id=given.get("source"), code=given.get("code"), status=given.get("status")
        )


class ReplayRequestSerializer(serializers.Serializer):
    payload = serializers.JSONField(
        required=False,
        allow_null=True,
        help_text="The corrected message; without it the stored payload is replayed.",
    )


class _FailedEventActionView(APIView):
    read_permission = "manage_sources"
    write_permission = "manage_sources"

    def get_failed(self, pk: int) -> FailedEvent:
        return get_object_or_404(FailedEvent, pk=pk)


class FailedEventReplayView(_FailedEventActionView):
    """Replay a failed event against its source's current rules, optionally corrected.

    200 in both outcomes: `status` is "replayed" when the event is now stored, or still "failed"
    with the new `code` and `reason`. 409 when it was already replayed or discarded.
    """

    @extend_schema(
        request=ReplayRequestSerializer,
        responses={200: FailedEventSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def post(self, request, pk: int):
        failed = self.get_failed(pk)
        serializer = ReplayRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        try:
            failed = failed_event_replay(
                failed_event=failed,
                payload=serializer.validated_data.get("payload"),
                user=request.user,
            )
        except FailedEventError as exc:
            raise Conflict(str(exc)) from None
        return Response(FailedEventSerializer(failed).data)


class FailedEventDiscardView(_FailedEventActionView):
    """Give up on a failed event: it stays on record, marked discarded."""

    @extend_schema(
        request=None, responses={200: FailedEventSerializer, **errors(401, 403, 404, 409)}
    )
    def post(self, request, pk: int):
        try:
            failed = failed_event_discard(failed_event=self.get_failed(pk))
        except FailedEventError as exc:
            raise Conflict(str(exc)) from None
        return Response(FailedEventSerializer(failed).data)
