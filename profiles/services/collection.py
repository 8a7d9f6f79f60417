"""The collection path: authenticate, limit, decode, validate, one bulk durable write.

Turning events into profiles happens later, in the background; the request only makes the
events durable (deduplicated on (source, messageId) by a unique constraint) and answers.
"""

import itertools
import re
import time
from dataclasses import dataclass, field
from datetime import datetime

import orjson
import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from profiles.domain import tracking_plan
from profiles.domain.messages import (
    BATCH_ENDPOINTS,
    BodyError,
    Prepared,
    Rejected,
    decode_body_sized,
    prepare_messages,
)
from profiles.models import Event, FailedEvent, Source
from profiles.selectors.sources import source_for_write_key
from profiles.services.processing import processing_request

RAW_KEEP = 4096  # how much of an undecodable body a failed event keeps


class Unauthorized(Exception):
    """No write key, or one that is unknown, revoked, expired or of a disabled source."""


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded; retry after {retry_after}s")
        self.retry_after = retry_after


class RequestRejected(Exception):
    """The whole request is refused with 400 (kept as a failed event when the source is known)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Collected:
    accepted: int = 0
    duplicates: int = 0
    failed: list[Rejected] = field(default_factory=list)
    suppressed: int = 0  # messages about erased people: counted, never stored

    def as_dict(self) -> dict:
        return {
            "success": True,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "suppressed": self.suppressed,
            "failed": len(self.failed),
            "errors": [
                {"index": item.index, "code": item.code, "reason": item.reason}
                for item in self.failed
            ],
        }


def events_collect(
    *,
    raw: bytes,
    endpoint: str,
    write_key: str | None,
    content_type: str | None,
    content_encoding: str | None,
) -> Collected:
    """Accept one collection request (single message, batch or import) and store it durably."""
    received_at = timezone.now()
    hard_cap = settings.COLLECT_MAX_BODY_BYTES
    body = None
    source = source_for_write_key(write_key) if write_key else None
    if write_key is None:
        # The key may be inside the body (analytics.js and some libraries send it there).
        try:
            body, size = _decode(
                raw,
                content_type=content_type,
                content_encoding=content_encoding,
                max_bytes=hard_cap,
            )
        except BodyError as exc:
            raise RequestRejected(exc.code, exc.message) from exc
        write_key = body.get("writeKey")
        source = source_for_write_key(write_key) if isinstance(write_key, str) else None
    if source is None:
        raise Unauthorized
    _rate_limit(source)
    try:
        if body is None:
            body, size = _decode(
                raw,
                content_type=content_type,
                content_encoding=content_encoding,
                max_bytes=min(source.max_batch_bytes, hard_cap),
            )
        elif size > source.max_batch_bytes:
            raise BodyError(
                "body_too_large",
                f"Request body is {size // 1024} KB, larger than this source's "
                f"{source.max_batch_bytes // 1024} KB limit.",
            )
        prepared, rejected = prepare_messages(
            body,
            endpoint=endpoint,
            received_at=received_at,
            max_message_bytes=source.max_message_bytes,
        )
    except BodyError as exc:
        _store_request_failure(
            source, endpoint, raw, exc.code, exc.message, received_at, write_key=write_key
        )
        raise RequestRejected(exc.code, exc.message) from exc
    result = events_store(source=source, endpoint=endpoint, prepared=prepared, rejected=rejected)
    if endpoint not in BATCH_ENDPOINTS and any(r.code == "message_too_large" for r in rejected):
        too_large = next(r for r in rejected if r.code == "message_too_large")
        raise RequestRejected(too_large.code, too_large.reason)
    return result


def _decode(
    raw: bytes, *, content_type: str | None, content_encoding: str | None, max_bytes: int
) -> tuple[dict, int]:
    """Decode a body, refusing unread one that is already over the limit before inflating."""
    if len(raw) > max_bytes:
        # The view reads at most the hard cap plus one byte, so the real size may be unknown.
        raise BodyError(
            "body_too_large", f"Request body is larger than the {max_bytes // 1024} KB limit."
        )
    return decode_body_sized(
        raw, content_type=content_type, content_encoding=content_encoding, max_bytes=max_bytes
    )


def _rate_limit(source: Source) -> None:
    second = int(time.time())
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO profiles_ratewindow (source_id, second, count) VALUES (%s, %s, 1) "
            "ON CONFLICT (source_id, second) DO UPDATE "
            "SET count = profiles_ratewindow.count + 1 RETURNING count",
            [source.pk, second],
        )
        (count,) = cursor.fetchone()
    if count > source.rate_limit_per_second:
        raise RateLimited(retry_after=1)


_COLUMNS = (
    "source_id, message_id, type, name, user_id, anonymous_id, group_id, previous_id, "
    "timestamp, original_timestamp, sent_at, received_at, "
    "properties, traits, context, integrations, extra, consent, violations"
)
# The whole batch travels as one JSON document of rows: one orjson call to build, one value to
# send, and PostgreSQL parses it once (per-column arrays cost 5x the CPU in psycopg's dumpers).
_INSERT = (  # constant text: the column names are ours
    f"INSERT INTO profiles_event ({_COLUMNS}) "  # noqa: S608
    "SELECT * FROM jsonb_to_recordset(%s::jsonb) AS row(source_id bigint, message_id text, "
    "type text, name text, user_id text, anonymous_id text, group_id text, previous_id text, "
    "timestamp timestamptz, original_timestamp timestamptz, sent_at timestamptz, "
    "received_at timestamptz, properties jsonb, traits jsonb, context jsonb, integrations jsonb, "
    "extra jsonb, consent jsonb, violations jsonb) "
    "ON CONFLICT (source_id, message_id) DO NOTHING RETURNING 1"
)
# Prepared attribute -> (name in the Segment Spec, the length its column can hold).
_TEXT_FIELDS = {
    attribute: (spec_name, Event._meta.get_field(column).max_length)
    for attribute, spec_name, column in (
        ("message_id", "messageId", "message_id"),
        ("type", "type", "type"),
        ("event", "event", "name"),
        ("user_id", "userId", "user_id"),
        ("anonymous_id", "anonymousId", "anonymous_id"),
        ("group_id", "groupId", "group_id"),
        ("previous_id", "previousId", "previous_id"),
    )
}
# A NUL character as orjson escapes it: `\u0000` not itself preceded by an escaped backslash.
_ESCAPED_NUL = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")
_NUL_IN_JSON = (
    "nul_character",
    "The message contains a NUL character (\\u0000), which cannot be stored.",
)


def _has_nul(text: str) -> bool:
    return "\\u0000" in text and _ESCAPED_NUL.search(text) is not None


def _text_problem(message: Prepared) -> tuple[str, str] | None:
    """What PostgreSQL cannot store in a text column (NUL, too long), or None."""
    for attribute, (name, max_length) in _TEXT_FIELDS.items():
        value = getattr(message, attribute)
        if value is None:
            continue
        if attribute == "event" and message.type != "track":
            name = "name"
        if "\x00" in value:
            return "nul_character", f"{name} contains a NUL character, which cannot be stored."
        if len(value) > max_length:
            return (
                "field_too_long",
                f"{name} is {len(value)} characters long; at most {max_length} can be stored.",
            )
    return None


def _row(source: Source, message: Prepared, violations: list[str]) -> dict:
    return {
        "source_id": source.pk,
        "message_id": message.message_id,
        "type": message.type,
        "name": message.event,
        "user_id": message.user_id,
        "anonymous_id": message.anonymous_id,
        "group_id": message.group_id,
        "previous_id": message.previous_id,
        "timestamp": message.timestamp,
        "original_timestamp": message.original_timestamp,
        "sent_at": message.sent_at,
        "received_at": message.received_at,
        "properties": message.properties,
        "traits": message.traits,
        "context": message.context,
        "integrations": message.integrations,
        "extra": message.extra,
        "consent": message.consent,
        "violations": violations,
    }


@transaction.atomic
def events_store(
    *, source: Source, endpoint: str, prepared: list[Prepared], rejected: list[Rejected]
) -> Collected:
    """Insert valid messages (duplicates skipped by the unique constraint) and failed ones."""
    from privacy.services.suppression import suppression_filter

    # Where each prepared message stood in its batch: the indices that preparing did not reject.
    taken = {item.index for item in rejected}
    positions = (index for index in itertools.count() if index not in taken)
    placed = list(zip(positions, prepared, strict=False))
    survivors, suppressed = suppression_filter(prepared)
    if suppressed:
        alive = {id(message) for message in survivors}
        placed = [(position, message) for position, message in placed if id(message) in alive]
    plan = source.tracking_plan or {}
    rows: list[dict] = []
    kept: list[tuple[int, Prepared]] = []
    rejected = list(rejected)
    for position, message in placed:
        found = (
            tracking_plan.violations(plan, message.event, message.properties)
            if message.type == "track"
            else []
        )
        if found and source.tracking_plan_mode == Source.PlanMode.QUARANTINE:
            rejected.append(
                Rejected(position, _message_payload(message), "tracking_plan", "; ".join(found))
            )
            continue
        problem = _text_problem(message)
        if problem:
            rejected.append(Rejected(position, _message_payload(message), *problem))
            continue
        rows.append(_row(source, message, found))
        kept.append((position, message))
    document = orjson.dumps(rows).decode()
    if _has_nul(document):
        # Rare: find the messages whose JSON holds a NUL, which jsonb cannot store.
        clean = [not _has_nul(orjson.dumps(row).decode()) for row in rows]
        rejected.extend(
            Rejected(position, _message_payload(message), *_NUL_IN_JSON)
            for (position, message), ok in zip(kept, clean, strict=True)
            if not ok
        )
        rows = [row for row, ok in zip(rows, clean, strict=True) if ok]
        document = orjson.dumps(rows).decode()
    accepted = 0
    if rows:
        connection.ensure_connection()
        # A server-side-binding cursor on Django's connection (so in this transaction): the
        # document travels as a bound parameter, not escaped into the SQL text and lexed again.
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(_INSERT, [document])
            accepted = len(cursor.fetchall())
    if rejected:
        rejected.sort(key=lambda item: item.index)
        failed_events_store(source=source, endpoint=endpoint, rejected=rejected)
    if accepted:
        processing_request()
    return Collected(
        accepted=accepted, duplicates=len(rows) - accepted, failed=rejected, suppressed=suppressed
    )


def _message_payload(message: Prepared) -> dict:
    """A prepared message turned back into Segment-Spec JSON (for a failed event's payload)."""
    payload = {
        "type": message.type,
        "messageId": message.message_id,
        "userId": message.user_id,
        "anonymousId": message.anonymous_id,
        "timestamp": message.timestamp.isoformat(),
        "properties": message.properties,
        "traits": message.traits,
        "context": message.context,
        "integrations": message.integrations,
        **message.extra,
    }
    if message.type == "track":
        payload["event"] = message.event
    elif message.type in ("page", "screen") and message.event:
        payload["name"] = message.event
    if message.group_id:
        payload["groupId"] = message.group_id
    if message.previous_id:
        payload["previousId"] = message.previous_id
    return {key: value for key, value in payload.items() if value is not None}


def _storable(payload: object) -> object:
    """JSON that PostgreSQL accepts: NUL characters replaced, so the failure itself is kept."""
    text = orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS).decode()
    if "\\u0000" in text:
        text = _ESCAPED_NUL.sub(r"\1\\ufffd", text)
    return orjson.loads(text)


def failed_events_store(
    *, source: Source | None, endpoint: str, rejected: list[Rejected], received_at=None
) -> list[FailedEvent]:
    """Keep rejected messages with their reasons, to be fixed and replayed."""
    at = received_at or timezone.now()
    return FailedEvent.objects.bulk_create(
        FailedEvent(
            source=source,
            endpoint=endpoint,
            payload=_storable(item.payload),
            code=item.code,
            reason=item.reason,
            received_at=at,
        )
        for item in rejected
    )


_WRITE_KEY_FIELD = re.compile(rb'"writeKey"\s*:\s*"(?:[^"\\]|\\.)*"')


def _store_request_failure(
    source: Source,
    endpoint: str,
    raw: bytes,
    code: str,
    message: str,
    at: datetime,
    *,
    write_key: str | None,
) -> None:
    # The write key is a secret: cut it out of the body before keeping the start of it.
    if write_key:
        raw = raw.replace(write_key.encode(), b"[write key removed]")
    raw = _WRITE_KEY_FIELD.sub(b'"writeKey": "[removed]"', raw)
    FailedEvent.objects.create(
        source=source,
        endpoint=endpoint,
        raw=raw[:RAW_KEEP].decode("utf-8", "replace").replace("\x00", "\ufffd"),
        code=code,
        reason=message,
        received_at=at,
    )


__all__ = ["Event", "events_collect", "events_store", "failed_events_store"]
