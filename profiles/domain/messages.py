"""Decode and normalise Segment-Spec collection requests into rows ready for a bulk insert.

Pure module: no Django, ORM or settings. The collection view calls `decode_body` and then
`prepare_messages`; a `BodyError` is a request-level 400, a `Rejected` is one bad message that is
stored as a failed event while the rest of the batch goes on.

The `Prepared` dicts may share objects with the decoded body (no deep copies on the hot path), so
callers must not mutate the body after preparing it.
"""

import base64
import binascii
import re
import uuid
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs

import orjson

MESSAGE_TYPES = frozenset({"identify", "track", "page", "screen", "group", "alias"})
BATCH_ENDPOINTS = frozenset({"batch", "import"})
ENDPOINTS = MESSAGE_TYPES | BATCH_ENDPOINTS
MAX_MESSAGE_ID_LENGTH = 255
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024

_GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = zlib.MAX_WBITS | 16
_GUNZIP_CHUNK = 64 * 1024
_UTF8_BOM = b"\xef\xbb\xbf"
_FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
_EXPECTED_TYPES = ", ".join(sorted(MESSAGE_TYPES))
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BAD_TIME = "is not an ISO-8601 date-time or epoch milliseconds."

_ISO_RE = re.compile(
    r"(?P<year>\d{4})-(?P<month>\d{2})-(?P<day>\d{2})"
    r"(?:[Tt ](?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?"
    r" ?(?:(?P<utc>[Zz])|(?P<sign>[+-])(?P<off_h>\d{2})(?::?(?P<off_m>\d{2}))?)?)?"
)

# Top-level keys that become `Prepared` fields; every other key goes to `extra` verbatim.
# `writeKey` is a secret: it is consumed and never stored.
_COMMON_KEYS = frozenset(
    {
        "type",
        "messageId",
        "userId",
        "anonymousId",
        "groupId",
        "previousId",
        "timestamp",
        "originalTimestamp",
        "sentAt",
        "properties",
        "context",
        "integrations",
        "writeKey",
    }
)
_CONSUMED_KEYS = {
    "identify": _COMMON_KEYS | {"traits"},
    "group": _COMMON_KEYS | {"traits"},
    "track": _COMMON_KEYS | {"event"},
    "page": _COMMON_KEYS | {"name"},
    "screen": _COMMON_KEYS | {"name"},
    "alias": _COMMON_KEYS,
}
_BATCH_KEYS = frozenset({"batch", "context", "integrations", "sentAt", "writeKey"})


class BodyError(Exception):
    """A request-level problem with the body: the whole request is answered with HTTP 400."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(slots=True)
class Prepared:
    """One valid message, normalised and ready for a bulk insert."""

    message_id: str
    type: str
    event: str | None
    user_id: str | None
    anonymous_id: str | None
    group_id: str | None
    previous_id: str | None
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    received_at: datetime
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]
    integrations: dict[str, Any]
    extra: dict[str, Any]
    consent: dict[str, bool] | None
    raw_size: int


@dataclass(slots=True)
class Rejected:
    """One invalid message, to be stored as a failed event with its reason."""

    index: int
    payload: object
    code: str
    reason: str


class _Invalid(Exception):
    """Raised inside the per-message pipeline; turned into a `Rejected` by its caller."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


# --- Request body -------------------------------------------------------------------------------


def decode_body(
    raw: bytes, *, content_type: str | None, content_encoding: str | None, max_bytes: int
) -> dict[str, Any]:
    """Decode a collection request body whatever its Content-Type."""
    value, _ = decode_body_sized(
        raw, content_type=content_type, content_encoding=content_encoding, max_bytes=max_bytes
    )
    return value


def decode_body_sized(
    raw: bytes, *, content_type: str | None, content_encoding: str | None, max_bytes: int
) -> tuple[dict[str, Any], int]:
    """`decode_body`, also returning the body's size in bytes after decompression."""
    if not raw:
        raise BodyError("empty_body", "Request body is empty.")
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip") or (
        encoding in ("", "identity") and raw.startswith(_GZIP_MAGIC)
    ):
        data = _gunzip(raw, max_bytes)
    elif encoding in ("", "identity"):
        data = raw
    else:
        raise BodyError(
            "unsupported_encoding",
            f"Content-Encoding {content_encoding!r} is not supported; send gzip or no encoding.",
        )
    if len(data) > max_bytes:
        raise BodyError(
            "body_too_large",
            f"Request body is {_kb(len(data))}, larger than the {_kb(max_bytes)} limit.",
        )
    if not data.strip():
        raise BodyError("empty_body", "Request body is empty.")
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    value = (
        _parse_form(data) if media_type == _FORM_MEDIA_TYPE else _parse_json(data, "Request body")
    )
    if not isinstance(value, dict):
        raise BodyError(
            "not_an_object", f"Request body must be a JSON object, got {_json_type(value)}."
        )
    return value, len(data)


def _gunzip(raw: bytes, max_bytes: int) -> bytes:
    """Gunzip every member of `raw`, stopping as soon as the output passes `max_bytes`."""
    out = bytearray()
    data = raw
    while True:
        decompressor = zlib.decompressobj(wbits=_GZIP_WBITS)
        try:
            while not decompressor.eof:
                budget = min(_GUNZIP_CHUNK, max_bytes + 1 - len(out))
                chunk = decompressor.decompress(data, budget)
                out += chunk
                if len(out) > max_bytes:
                    raise BodyError(
                        "body_too_large",
                        f"Decompressed request body is larger than the {_kb(max_bytes)} limit.",
                    )
                data = decompressor.unconsumed_tail
                if not data and len(chunk) < budget and not decompressor.eof:
                    raise BodyError("bad_gzip", "Gzip request body is truncated.")
        except zlib.error as exc:
            raise BodyError("bad_gzip", f"Request body is not valid gzip: {exc}.") from exc
        # Concatenated gzip members form one stream; trailing zero padding is allowed.
        data = decompressor.unused_data.lstrip(b"\x00")
        if not data:
            return bytes(out)


def _loads(data: bytes | str) -> Any:
    """Parse JSON with orjson, ignoring a leading UTF-8 byte order mark."""
    if isinstance(data, bytes) and data.startswith(_UTF8_BOM):
        data = data[len(_UTF8_BOM) :]
    return orjson.loads(data)


def _parse_json(data: bytes, what: str) -> Any:
    """Parse JSON, turning a parser error into an `invalid_json` BodyError with its position."""
    try:
        return _loads(data)
    except orjson.JSONDecodeError as exc:
        raise BodyError("invalid_json", f"{what} is not valid JSON: {_json_error(exc)}.") from exc


def _parse_form(data: bytes) -> Any:
    """Parse a form body: JSON as the whole body, else in the `data` field (maybe base64)."""
    try:
        return _loads(data)
    except orjson.JSONDecodeError as exc:
        body_error = exc
    try:
        fields = parse_qs(data.decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        fields = {}
    values = fields.get("data")
    if not values:
        raise BodyError(
            "invalid_json",
            f"Request body is not valid JSON ({_json_error(body_error)}) "
            "and has no 'data' form field.",
        )
    try:
        return orjson.loads(values[0])
    except orjson.JSONDecodeError as exc:
        field_error = exc
    decoded = _b64decode(values[0])
    if decoded is None:
        raise BodyError(
            "invalid_json",
            "Form field 'data' is neither JSON nor base64-encoded JSON: "
            f"{_json_error(field_error)}.",
        )
    return _parse_json(decoded, "Form field 'data' (base64-decoded)")


def _b64decode(text: str) -> bytes | None:
    """Decode standard or URL-safe base64, padding optional; None when it is not base64."""
    # An unescaped '+' in a form value arrives as a space.
    text = text.strip().replace(" ", "+")
    altchars = b"-_" if ("-" in text or "_" in text) else None
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, altchars=altchars, validate=True)
    except (binascii.Error, ValueError):
        return None


def _json_error(exc: orjson.JSONDecodeError) -> str:
    """Describe a JSON parser error with its position."""
    return f"{exc.msg} at line {exc.lineno}, column {exc.colno} (char {exc.pos})"


def _kb(size: int) -> str:
    """Format a byte count in KB for humans."""
    return f"{size // 1024} KB" if size % 1024 == 0 else f"{size / 1024:.1f} KB"


# --- Messages -----------------------------------------------------------------------------------


def _new_message_id() -> str:
    """Return a fresh random message id."""
    return str(uuid.uuid4())


@dataclass(slots=True)
class _BatchDefaults:
    """Batch-level values applied to every message of a batch."""

    context: dict[str, Any]
    integrations: dict[str, Any]
    sent_at: datetime | None
    sent_at_error: str | None
    extra: dict[str, Any]
    error: _Invalid | None


_NO_BATCH_DEFAULTS = _BatchDefaults({}, {}, None, None, {}, None)


def prepare_messages(
    body: dict[str, Any],
    *,
    endpoint: str,
    received_at: datetime,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    new_message_id: Callable[[], str] = _new_message_id,
) -> tuple[list[Prepared], list[Rejected]]:
    """Normalise and validate the messages of one collection request."""
    if endpoint not in ENDPOINTS:
        raise ValueError(f"Unknown collection endpoint {endpoint!r}.")
    if received_at.utcoffset() is None:
        raise ValueError("received_at must be timezone-aware.")
    received_at = received_at.astimezone(UTC)
    if endpoint in BATCH_ENDPOINTS:
        messages = body.get("batch")
        if not isinstance(messages, list):
            got = "it is missing" if "batch" not in body else f"got {_json_type(messages)}"
            raise BodyError("batch_not_a_list", f"'batch' must be a list of messages; {got}.")
        defaults = _batch_defaults(body)
        expected_type = None
    else:
        messages = [body]
        defaults = _NO_BATCH_DEFAULTS
        expected_type = endpoint

    prepared: list[Prepared] = []
    rejected: list[Rejected] = []
    for index, element in enumerate(messages):
        if not isinstance(element, dict):
            reason = f"Message must be a JSON object, got {_json_type(element)}."
            rejected.append(Rejected(index, element, "not_an_object", reason))
            continue
        try:
            prepared.append(
                _prepare_one(
                    element, expected_type, defaults, received_at, max_message_bytes, new_message_id
                )
            )
        except _Invalid as exc:
            rejected.append(Rejected(index, _without_write_key(element), exc.code, exc.reason))
    return prepared, rejected


def _batch_defaults(body: dict[str, Any]) -> _BatchDefaults:
    """Read the batch-level context, integrations, sentAt and unknown keys once per request."""
    error = None
    try:
        context = _object_field(body, "context", "batch-level ")
        integrations = _object_field(body, "integrations", "batch-level ")
    except _Invalid as exc:
        context, integrations, error = {}, {}, exc
    sent_at = sent_at_error = None
    raw_sent_at = body.get("sentAt")
    try:
        sent_at = _optional_time(raw_sent_at)
    except ValueError:
        sent_at_error = f"Batch-level sentAt {_show(raw_sent_at)} {_BAD_TIME}"
    extra = {key: value for key, value in body.items() if key not in _BATCH_KEYS}
    return _BatchDefaults(context, integrations, sent_at, sent_at_error, extra, error)


def _prepare_one(
    message: dict[str, Any],
    expected_type: str | None,
    defaults: _BatchDefaults,
    received_at: datetime,
    max_message_bytes: int,
    new_message_id: Callable[[], str],
) -> Prepared:
    """Validate and normalise one message object, raising `_Invalid` for the first problem."""
    try:
        raw_size = len(orjson.dumps(message))
    except orjson.JSONEncodeError as exc:
        raise _Invalid("not_serializable", f"Message cannot be encoded as JSON: {exc}.") from exc
    if raw_size > max_message_bytes:
        raise _Invalid(
            "message_too_large",
            f"Message is {raw_size} bytes, larger than the {max_message_bytes} bytes "
            f"({_kb(max_message_bytes)}) limit.",
        )

    message_type = _message_type(message, expected_type)
    if defaults.error is not None:
        # A fresh exception per message: re-raising one instance would grow its traceback.
        raise _Invalid(defaults.error.code, defaults.error.reason)

    properties = _object_field(message, "properties")
    traits = _object_field(message, "traits")
    context = _object_field(message, "context")
    integrations = _object_field(message, "integrations")
    if defaults.context:
        context = defaults.context | context
    if defaults.integrations:
        integrations = defaults.integrations | integrations
    context_traits = context.get("traits")
    if context_traits is None:
        context_traits = {}
    elif not isinstance(context_traits, dict):
        raise _Invalid(
            "invalid_field",
            f"context.traits must be an object, got {_json_type(context_traits)}.",
        )
    if message_type not in ("identify", "group") or not traits:
        traits = context_traits

    user_id = _id_field(message, "userId")
    anonymous_id = _id_field(message, "anonymousId")
    group_id = _id_field(message, "groupId")
    previous_id = _id_field(message, "previousId")
    message_id = _message_id(message)

    event = None
    if message_type == "alias":
        if user_id is None:
            raise _Invalid("missing_identity", "An alias message needs a userId.")
        if previous_id is None:
            raise _Invalid("missing_previous_id", "An alias message needs a previousId.")
    elif user_id is None and anonymous_id is None:
        raise _Invalid("missing_identity", "Message needs a userId or an anonymousId.")
    if message_type == "track":
        event = message.get("event")
        if not isinstance(event, str) or not event:
            raise _Invalid(
                "missing_event",
                f"A track message needs a non-empty string event, got {_show(event)}.",
            )
    elif message_type in ("page", "screen"):
        event = _id_field(message, "name")
    elif message_type == "group" and group_id is None:
        raise _Invalid("missing_group_id", "A group message needs a groupId.")

    timestamp, original_timestamp, sent_at = _times(message, defaults, received_at)

    consent = None
    consent_field = context.get("consent")
    if isinstance(consent_field, dict):
        preferences = consent_field.get("categoryPreferences")
        if isinstance(preferences, dict):
            consent = {
                category: flag
                for category, value in preferences.items()
                if (flag := _as_bool(value)) is not None
            }

    consumed = _CONSUMED_KEYS[message_type]
    extra = {key: value for key, value in message.items() if key not in consumed}
    if defaults.extra:
        extra.update({k: v for k, v in defaults.extra.items() if k not in message})

    return Prepared(
        message_id=message_id if message_id is not None else new_message_id(),
        type=message_type,
        event=event,
        user_id=user_id,
        anonymous_id=anonymous_id,
        group_id=group_id,
        previous_id=previous_id,
        timestamp=timestamp,
        original_timestamp=original_timestamp,
        sent_at=sent_at,
        received_at=received_at,
        properties=properties,
        traits=traits,
        context=context,
        integrations=integrations,
        extra=extra,
        consent=consent,
        raw_size=raw_size,
    )


def _message_type(message: dict[str, Any], expected_type: str | None) -> str:
    """Return the message's type: its own in a batch, the endpoint's otherwise."""
    value = message.get("type")
    if expected_type is not None:
        if value is not None and value != expected_type:
            raise _Invalid(
                "type_mismatch",
                f"Message type {_show(value)} does not match the {expected_type} endpoint.",
            )
        return expected_type
    if isinstance(value, str) and value in MESSAGE_TYPES:
        return value
    if value is None:
        raise _Invalid("invalid_type", f"Message has no type; expected one of {_EXPECTED_TYPES}.")
    raise _Invalid(
        "invalid_type",
        f"Message type {_show(value)} is not one of {_EXPECTED_TYPES}.",
    )


def _object_field(message: dict[str, Any], name: str, prefix: str = "") -> dict[str, Any]:
    """Return an object field, {} when absent or null."""
    value = message.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(
            "invalid_field", f"{prefix}{name} must be an object, got {_json_type(value)}."
        )
    return value


def _id_field(message: dict[str, Any], name: str) -> str | None:
    """Return an id-like field as a string; null and "" count as absent, numbers become strings."""
    value = message.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise _Invalid(
        "invalid_field", f"{name} must be a string or a number, got {_json_type(value)}."
    )


def _message_id(message: dict[str, Any]) -> str | None:
    """Return the sent messageId, None when it has to be generated."""
    value = message.get("messageId")
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise _Invalid(
            "invalid_message_id", f"messageId must be a string, got {_json_type(value)}."
        )
    if not value or len(value) > MAX_MESSAGE_ID_LENGTH:
        raise _Invalid(
            "invalid_message_id",
            f"messageId must be 1 to {MAX_MESSAGE_ID_LENGTH} characters long, got {len(value)}.",
        )
    return value


def _times(
    message: dict[str, Any], defaults: _BatchDefaults, received_at: datetime
) -> tuple[datetime, datetime | None, datetime | None]:
    """Return (timestamp, original_timestamp, sent_at), correcting the client's clock skew."""
    timestamp = _time_field(message, "timestamp")
    original = _time_field(message, "originalTimestamp")
    if message.get("sentAt") in (None, ""):
        if defaults.sent_at_error is not None:
            raise _Invalid("invalid_timestamp", defaults.sent_at_error)
        sent_at = defaults.sent_at
    else:
        sent_at = _time_field(message, "sentAt")

    if timestamp is not None:
        effective = timestamp
    elif original is not None and sent_at is not None:
        try:
            effective = received_at - (sent_at - original)
        except OverflowError:
            raise _Invalid(
                "invalid_timestamp",
                "originalTimestamp and sentAt are too far apart to correct the clock skew.",
            ) from None
    elif original is not None:
        effective = original
    else:
        effective = received_at
    return effective, original if original is not None else timestamp, sent_at


def _time_field(message: dict[str, Any], name: str) -> datetime | None:
    """Parse a time field; null and "" count as absent."""
    value = message.get(name)
    try:
        return _optional_time(value)
    except ValueError:
        raise _Invalid("invalid_timestamp", f"{name} {_show(value)} {_BAD_TIME}") from None


def _optional_time(value: object) -> datetime | None:
    """Parse a time value that may be absent."""
    if value is None or value == "":
        return None
    return parse_timestamp(value)


def parse_timestamp(value: object) -> datetime:
    """Parse an ISO-8601 string (liberally) or epoch milliseconds into an aware UTC datetime."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return _EPOCH + timedelta(milliseconds=value)
        except (OverflowError, ValueError):
            raise ValueError(f"Epoch milliseconds {value!r} are out of range.") from None
    if not isinstance(value, str):
        raise ValueError(f"Expected a string or a number, got {_json_type(value)}.")
    match = _ISO_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"{value!r} is not an ISO-8601 date-time.")
    parts = match.groupdict()
    fraction = parts["fraction"]
    tz: timezone = UTC
    if parts["sign"]:
        offset = timedelta(hours=int(parts["off_h"]), minutes=int(parts["off_m"] or 0))
        tz = timezone(-offset if parts["sign"] == "-" else offset)
    try:
        parsed = datetime(
            int(parts["year"]),
            int(parts["month"]),
            int(parts["day"]),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            # Digits past microseconds are truncated, as datetime.fromisoformat does.
            int(fraction[:6].ljust(6, "0")) if fraction else 0,
            tzinfo=tz,
        )
        return parsed if tz is UTC else parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError(f"{value!r} is not a valid date-time.") from None


def _as_bool(value: object) -> bool | None:
    """Coerce a consent preference to bool: bools and "true"/"false"; None otherwise."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered == "true":
            return True
        if lowered == "false":
            return False
    return None


def _without_write_key(message: dict[str, Any]) -> dict[str, Any]:
    """Return the message without its secret writeKey (the same object when it has none)."""
    if "writeKey" not in message:
        return message
    return {key: value for key, value in message.items() if key != "writeKey"}


def _json_type(value: object) -> str:
    """Name a value's JSON type for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value: object, limit: int = 80) -> str:
    """Render a value as short JSON for error messages."""
    try:
        text = orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"
