"""Writes about failed events: replay one (as stored or corrected), replay a source's, discard.

A replay goes through the same path as collection (prepare_messages, then events_store), so the
message meets the source's current rules: its size limit and its tracking plan.
"""

import uuid
from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from profiles.domain.messages import BATCH_ENDPOINTS, MESSAGE_TYPES, BodyError, prepare_messages
from profiles.models import FailedEvent, Source
from profiles.services.collection import events_store

# Messages replayed without a messageId get one derived from the failed event, so a replay that
# is retried can never store the same message twice.
_REPLAY_NAMESPACE = uuid.UUID("6f0c2a9e-31c4-4c39-9a3f-6c1f2b0d7e15")
REPLAY_ALL_LIMIT = 500


class FailedEventError(Exception):
    """The failed event cannot be replayed or discarded as asked; the message says why."""


class _StillFailing(Exception):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class ReplayAllResult:
    replayed: int
    still_failed: int
    needs_payload: int  # request-level failures with no message to replay until someone fixes it
    remaining: int  # left for another run when there were more than the limit

    def summary(self) -> str:
        parts = [f"{self.replayed} replayed", f"{self.still_failed} still failing"]
        if self.needs_payload:
            parts.append(f"{self.needs_payload} need a corrected payload")
        if self.remaining:
            parts.append(f"{self.remaining} not tried yet: run it again")
        return ", ".join(parts) + "."


def _body(failed_event: FailedEvent, payload: object) -> tuple[dict, str]:
    """The collection body and endpoint that carry `payload` as one message."""
    if isinstance(payload, dict) and "batch" in payload:
        raise _StillFailing(
            "not_a_message", "Replay one message at a time: give a single message, not a batch."
        )
    if failed_event.endpoint in MESSAGE_TYPES and isinstance(payload, dict):
        return payload, failed_event.endpoint
    endpoint = failed_event.endpoint if failed_event.endpoint in BATCH_ENDPOINTS else "batch"
    return {"batch": [payload]}, endpoint


def _store(failed_event: FailedEvent, source: Source, payload: object) -> None:
    """Validate and store one message; raises _StillFailing with the first problem found."""
    body, endpoint = _body(failed_event, payload)
    message_id = str(uuid.uuid5(_REPLAY_NAMESPACE, f"failed-event:{failed_event.pk}"))
    try:
        # Prepared against the original arrival time, so a message without a timestamp keeps
        # the time it was first received and clock-skew correction uses the original sentAt.
        prepared, rejected = prepare_messages(
            body,
            endpoint=endpoint,
            received_at=failed_event.received_at,
            max_message_bytes=source.max_message_bytes,
            new_message_id=lambda: message_id,
        )
    except BodyError as exc:
        raise _StillFailing(exc.code, exc.message) from None
    if rejected:
        raise _StillFailing(rejected[0].code, rejected[0].reason)
    accepted_at = timezone.now()
    for message in prepared:
        message.received_at = accepted_at
    with transaction.atomic():  # a savepoint: a quarantined replay must not add a failed event
        result = events_store(source=source, endpoint=endpoint, prepared=prepared, rejected=[])
        if result.failed:
            raise _StillFailing(result.failed[0].code, result.failed[0].reason)


@transaction.atomic
def failed_event_replay(
    *, failed_event: FailedEvent, payload: object = None, user: AbstractBaseUser | None
) -> FailedEvent:
    """Replay a failed event, with a corrected `payload` or its stored one.

    Valid now: stored as an event and marked replayed. Still invalid: kept failed with the new
    code and reason (and the corrected payload, so the next attempt starts from it).
    """
    failed_event = (
        FailedEvent.objects.select_for_update(of=("self",))
        .select_related("source")
        .get(pk=failed_event.pk)
    )
    if failed_event.status != FailedEvent.Status.FAILED:
        raise FailedEventError(f"This failed event was already {failed_event.status}.")
    if failed_event.source is None:
        raise FailedEventError("This failed event has no source to replay it into.")
    if payload is None:
        payload = failed_event.payload
    if payload is None:
        raise FailedEventError(
            "The request could not be read, so there is no message to replay: "
            "paste the corrected message and replay it."
        )
    failed_event.payload = payload
    try:
        _store(failed_event, failed_event.source, payload)
    except _StillFailing as exc:
        failed_event.code = exc.code
        failed_event.reason = exc.reason
        failed_event.save(update_fields=["payload", "code", "reason"])
        return failed_event
    failed_event.status = FailedEvent.Status.REPLAYED
    failed_event.replayed_at = timezone.now()
    failed_event.replayed_by = user
    failed_event.save(update_fields=["payload", "status", "replayed_at", "replayed_by"])
    return failed_event


def failed_events_replay_all(
    *, source: Source, user: AbstractBaseUser | None, limit: int = REPLAY_ALL_LIMIT
) -> ReplayAllResult:
    """Replay a source's failed events, oldest first, against its current rules (up to `limit`)."""
    open_events = FailedEvent.objects.filter(source=source, status=FailedEvent.Status.FAILED)
    replayable = open_events.filter(payload__isnull=False).order_by("received_at", "pk")
    batch = list(replayable.only("pk")[: limit + 1])
    remaining = replayable.count() - limit if len(batch) > limit else 0
    replayed = still_failed = 0
    for failed_event in batch[:limit]:
        try:
            done = failed_event_replay(failed_event=failed_event, user=user)
        except FailedEventError:
            continue  # replayed or discarded by someone else meanwhile
        if done.status == FailedEvent.Status.REPLAYED:
            replayed += 1
        else:
            still_failed += 1
    needs_payload = open_events.filter(payload__isnull=True).count()
    return ReplayAllResult(replayed, still_failed, needs_payload, remaining)


@transaction.atomic
def failed_event_discard(*, failed_event: FailedEvent) -> FailedEvent:
    """Give up on a failed event: it stays on record, marked discarded."""
    failed_event = FailedEvent.objects.select_for_update().get(pk=failed_event.pk)
    if failed_event.status != FailedEvent.Status.FAILED:
        raise FailedEventError(f"This failed event was already {failed_event.status}.")
    failed_event.status = FailedEvent.Status.DISCARDED
    failed_event.save(update_fields=["status"])
    return failed_event
