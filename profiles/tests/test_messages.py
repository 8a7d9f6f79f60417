"""Tests of the pure collection-message module: body decoding and message normalisation."""

import base64
import gzip
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.domain.messages import (
    BodyError,
    Prepared,
    Rejected,
    decode_body,
    parse_timestamp,
    prepare_messages,
)

RECEIVED_AT = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
KB = 1024


def decode(
    raw: bytes,
    content_type: str | None = "application/json",
    content_encoding: str | None = None,
    max_bytes: int = 500 * KB,
) -> dict[str, Any]:
    return decode_body(
        raw, content_type=content_type, content_encoding=content_encoding, max_bytes=max_bytes
    )


def decode_error(raw: bytes, **kwargs: Any) -> BodyError:
    with pytest.raises(BodyError) as info:
        decode(raw, **kwargs)
    return info.value


def ids() -> Callable[[], str]:
    counter = itertools.count(1)
    return lambda: f"generated-{next(counter)}"


def prepare(
    body: dict[str, Any], endpoint: str = "track", **kwargs: Any
) -> tuple[list[Prepared], list[Rejected]]:
    kwargs.setdefault("new_message_id", ids())
    return prepare_messages(body, endpoint=endpoint, received_at=RECEIVED_AT, **kwargs)


def prepare_one(body: dict[str, Any], endpoint: str = "track", **kwargs: Any) -> Prepared:
    prepared, rejected = prepare(body, endpoint, **kwargs)
    assert rejected == []
    assert len(prepared) == 1
    return prepared[0]


def reject_one(body: dict[str, Any], endpoint: str = "track", **kwargs: Any) -> Rejected:
    prepared, rejected = prepare(body, endpoint, **kwargs)
    assert prepared == []
    assert len(rejected) == 1
    return rejected[0]


# --- decode_body ----------------------------------------------------------------------------------

TRACK_BODY = b'{"userId":"u1","event":"Signed Up","properties":{"plan":"pro"}}'
TRACK_DICT = {"userId": "u1", "event": "Signed Up", "properties": {"plan": "pro"}}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",  # analytics.js avoids CORS preflights this way
        "text/plain;charset=UTF-8",
        None,
        "",
        "application/octet-stream",
    ],
)
def test_decode_parses_json_whatever_the_content_type(content_type: str | None) -> None:
    assert decode(TRACK_BODY, content_type=content_type) == TRACK_DICT


def test_decode_ignores_a_utf8_byte_order_mark() -> None:
    assert decode(b"\xef\xbb\xbf" + TRACK_BODY) == TRACK_DICT


@pytest.mark.parametrize("encoding", ["gzip", "GZIP", " Gzip ", "x-gzip"])
def test_decode_gunzips_when_content_encoding_says_gzip(encoding: str) -> None:
    assert decode(gzip.compress(TRACK_BODY), content_encoding=encoding) == TRACK_DICT


def test_decode_gunzips_a_body_with_gzip_magic_bytes_and_no_header() -> None:
    assert decode(gzip.compress(TRACK_BODY), content_type="text/plain") == TRACK_DICT


def test_decode_gunzips_concatenated_members_and_zero_padding() -> None:
    raw = gzip.compress(b'{"userId":') + gzip.compress(b'"u1"}') + b"\x00\x00\x00"
    assert decode(raw, content_encoding="gzip") == {"userId": "u1"}


def test_decode_gunzips_a_body_larger_than_one_chunk() -> None:
    big = orjson.dumps({"batch": [{"type": "track", "event": "e" * 100}] * 2000})
    assert len(big) > 200 * KB
    decoded = decode(gzip.compress(big), content_encoding="gzip", max_bytes=len(big))
    assert len(decoded["batch"]) == 2000


def test_decode_accepts_a_body_of_exactly_max_bytes() -> None:
    raw = b'{"k":"' + b"x" * 100 + b'"}'
    assert decode(raw, max_bytes=len(raw)) == {"k": "x" * 100}
    assert decode(gzip.compress(raw), max_bytes=len(raw)) == {"k": "x" * 100}


def test_decode_gzip_bomb_raises_body_too_large() -> None:
    bomb = gzip.compress(b" " * (8 * 1024 * KB))
    assert len(bomb) < 10 * KB
    error = decode_error(bomb, content_encoding="gzip", max_bytes=64 * KB)
    assert error.code == "body_too_large"
    assert error.message == "Decompressed request body is larger than the 64 KB limit."


def test_decode_gzip_bomb_stops_at_the_cap_without_expanding_everything() -> None:
    # 1000 members of 8 MB each: 8 GB if fully expanded, which this test could not survive.
    bomb = gzip.compress(bytes(8 * 1024 * KB)) * 1000
    error = decode_error(bomb, content_encoding="gzip", max_bytes=500 * KB)
    assert error.code == "body_too_large"
    assert "500 KB" in error.message


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        pytest.param(TRACK_BODY, "gzip", id="header-says-gzip-body-is-plain"),
        pytest.param(gzip.compress(TRACK_BODY)[:10] + b"garbage!" * 4, None, id="magic-then-junk"),
        pytest.param(gzip.compress(TRACK_BODY) + b"trailing", "gzip", id="trailing-junk"),
    ],
)
def test_decode_corrupt_gzip_raises_bad_gzip(raw: bytes, encoding: str | None) -> None:
    error = decode_error(raw, content_encoding=encoding)
    assert error.code == "bad_gzip"
    assert error.message.startswith("Request body is not valid gzip: Error -3 while decompressing")


def test_decode_truncated_gzip_says_so() -> None:
    error = decode_error(gzip.compress(TRACK_BODY)[:-12], content_encoding="gzip")
    assert (error.code, error.message) == ("bad_gzip", "Gzip request body is truncated.")


def test_decode_plain_body_over_the_limit_raises_body_too_large_in_kb() -> None:
    raw = b'{"k":"' + b"x" * (600 * KB) + b'"}'
    error = decode_error(raw, max_bytes=500 * KB)
    assert error.code == "body_too_large"
    assert error.message == "Request body is 600.0 KB, larger than the 500 KB limit."


def test_decode_unknown_content_encoding_is_refused() -> None:
    error = decode_error(TRACK_BODY, content_encoding="br")
    assert error.code == "unsupported_encoding"
    assert error.message == "Content-Encoding 'br' is not supported; send gzip or no encoding."


@pytest.mark.parametrize("raw", [b"", b"   \n\t "])
def test_decode_empty_body_raises_empty_body(raw: bytes) -> None:
    error = decode_error(raw)
    assert (error.code, error.message) == ("empty_body", "Request body is empty.")


def test_decode_empty_gzip_raises_empty_body() -> None:
    assert decode_error(gzip.compress(b""), content_encoding="gzip").code == "empty_body"


def test_decode_invalid_json_reports_the_parser_position() -> None:
    error = decode_error(b'{"userId": "u1",\n "event": }', content_type="text/plain")
    assert error.code == "invalid_json"
    assert error.message.startswith("Request body is not valid JSON: ")
    assert "at line 2, column " in error.message
    assert "(char " in error.message


@pytest.mark.parametrize(
    ("raw", "json_type"),
    [(b"[1, 2]", "array"), (b'"hello"', "string"), (b"42", "number"), (b"null", "null")],
)
def test_decode_top_level_not_an_object_raises(raw: bytes, json_type: str) -> None:
    error = decode_error(raw)
    assert error.code == "not_an_object"
    assert error.message == f"Request body must be a JSON object, got {json_type}."


FORM = "application/x-www-form-urlencoded"


def test_decode_form_body_that_is_the_json_itself() -> None:
    assert decode(TRACK_BODY, content_type=FORM) == TRACK_DICT


def test_decode_form_field_data_with_json() -> None:
    raw = urlencode({"data": TRACK_BODY.decode(), "other": "x"}).encode()
    assert decode(raw, content_type=f"{FORM}; charset=UTF-8") == TRACK_DICT


def test_decode_form_field_data_with_base64_json() -> None:
    raw = urlencode({"data": base64.b64encode(TRACK_BODY).decode()}).encode()
    assert decode(raw, content_type=FORM) == TRACK_DICT


def test_decode_form_field_data_with_unescaped_plus_in_base64() -> None:
    payload = b'{"userId":"u>>>?"}'  # its standard base64 contains '+' and '/'
    encoded = base64.b64encode(payload).decode()
    assert "+" in encoded
    assert decode(f"data={encoded}".encode(), content_type=FORM) == {"userId": "u>>>?"}


def test_decode_form_field_data_with_urlsafe_base64_without_padding() -> None:
    payload = b'{"userId":"u>>>?"}'
    encoded = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    raw = f"data={quote(encoded)}".encode()
    assert decode(raw, content_type=FORM) == {"userId": "u>>>?"}


def test_decode_form_without_data_field_raises_invalid_json() -> None:
    error = decode_error(b"x=1", content_type=FORM)
    assert error.code == "invalid_json"
    assert error.message == (
        "Request body is not valid JSON (unexpected character, expected a JSON value "
        "at line 1, column 1 (char 0)) "
        "and has no 'data' form field."
    )


def test_decode_form_data_field_that_is_neither_json_nor_base64_raises_invalid_json() -> None:
    error = decode_error(b"data=%7Bnot+json", content_type=FORM)
    assert error.code == "invalid_json"
    assert error.message.startswith("Form field 'data' is neither JSON nor base64-encoded JSON: ")
    assert "at line 1, column " in error.message


def test_decode_form_data_field_base64_of_invalid_json_raises_invalid_json() -> None:
    encoded = base64.b64encode(b'{"userId": }').decode()
    error = decode_error(urlencode({"data": encoded}).encode(), content_type=FORM)
    assert error.code == "invalid_json"
    assert error.message.startswith("Form field 'data' (base64-decoded) is not valid JSON: ")


def test_decode_form_data_field_with_a_json_array_raises_not_an_object() -> None:
    error = decode_error(b"data=%5B1%5D", content_type=FORM)
    assert error.code == "not_an_object"


def test_body_error_carries_code_and_message() -> None:
    error = BodyError("empty_body", "Request body is empty.")
    assert (error.code, error.message, str(error)) == (
        "empty_body",
        "Request body is empty.",
        "Request body is empty.",
    )


# --- prepare_messages: single endpoints -----------------------------------------------------------


def test_track_is_prepared_with_every_field() -> None:
    body = {
        "userId": "u1",
        "anonymousId": "a1",
        "event": "Order Completed",
        "messageId": "m-1",
        "properties": {"revenue": 12.5},
        "context": {"ip": "1.2.3.4", "traits": {"email": "a@example.com"}},
        "integrations": {"All": False},
        "timestamp": "2024-05-01T10:00:00Z",
        "channel": "server",
        "version": 2,
        "options": {"x": 1},
        "custom": [1, 2],
        "writeKey": "secret",
    }
    assert prepare_one(body) == Prepared(
        message_id="m-1",
        type="track",
        event="Order Completed",
        user_id="u1",
        anonymous_id="a1",
        group_id=None,
        previous_id=None,
        timestamp=datetime(2024, 5, 1, 10, tzinfo=UTC),
        original_timestamp=datetime(2024, 5, 1, 10, tzinfo=UTC),
        sent_at=None,
        received_at=RECEIVED_AT,
        properties={"revenue": 12.5},
        traits={"email": "a@example.com"},
        context={"ip": "1.2.3.4", "traits": {"email": "a@example.com"}},
        integrations={"All": False},
        extra={"channel": "server", "version": 2, "options": {"x": 1}, "custom": [1, 2]},
        consent=None,
        raw_size=len(orjson.dumps(body)),
    )


def test_minimal_identify_gets_defaults() -> None:
    assert prepare_one({"anonymousId": "a1"}, "identify") == Prepared(
        message_id="generated-1",
        type="identify",
        event=None,
        user_id=None,
        anonymous_id="a1",
        group_id=None,
        previous_id=None,
        timestamp=RECEIVED_AT,
        original_timestamp=None,
        sent_at=None,
        received_at=RECEIVED_AT,
        properties={},
        traits={},
        context={},
        integrations={},
        extra={},
        consent=None,
        raw_size=len(b'{"anonymousId":"a1"}'),
    )


def test_explicit_type_matching_the_endpoint_is_accepted() -> None:
    assert prepare_one({"type": "identify", "userId": "u1"}, "identify").type == "identify"


def test_explicit_type_disagreeing_with_the_endpoint_is_type_mismatch() -> None:
    body = {"type": "identify", "userId": "u1", "event": "x"}
    rejected = reject_one(body, "track")
    assert rejected == Rejected(
        index=0,
        payload=body,
        code="type_mismatch",
        reason='Message type "identify" does not match the track endpoint.',
    )


def test_received_at_is_normalised_to_utc() -> None:
    paris = timezone(timedelta(hours=2))
    prepared, _ = prepare_messages(
        {"userId": "u1"},
        endpoint="identify",
        received_at=datetime(2024, 5, 1, 14, 0, 30, tzinfo=paris),
    )
    assert prepared[0].received_at == RECEIVED_AT
    assert prepared[0].received_at.tzinfo is UTC


def test_naive_received_at_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        prepare_messages(
            {"userId": "u1"},
            endpoint="identify",
            received_at=datetime(2024, 5, 1),  # noqa: DTZ001
        )


def test_unknown_endpoint_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="Unknown collection endpoint 't'"):
        prepare_messages({"userId": "u1"}, endpoint="t", received_at=RECEIVED_AT)


# --- identities -----------------------------------------------------------------------------------


def test_number_ids_become_strings() -> None:
    prepared = prepare_one(
        {"userId": 42, "anonymousId": 7.5, "groupId": 9, "messageId": 123}, "group"
    )
    assert (prepared.user_id, prepared.anonymous_id, prepared.group_id, prepared.message_id) == (
        "42",
        "7.5",
        "9",
        "123",
    )


def test_null_user_id_with_anonymous_id_is_valid() -> None:
    prepared = prepare_one({"userId": None, "anonymousId": "a1", "event": "e"})
    assert (prepared.user_id, prepared.anonymous_id) == (None, "a1")


def test_empty_user_id_counts_as_absent() -> None:
    prepared = prepare_one({"userId": "", "anonymousId": "a1", "event": "e"})
    assert prepared.user_id is None


@pytest.mark.parametrize(
    "body",
    [
        {"event": "e"},
        {"userId": None, "anonymousId": None, "event": "e"},
        {"userId": "", "anonymousId": "", "event": "e"},
    ],
)
def test_message_without_identity_is_missing_identity(body: dict[str, Any]) -> None:
    rejected = reject_one(body)
    assert (rejected.code, rejected.reason) == (
        "missing_identity",
        "Message needs a userId or an anonymousId.",
    )


def test_boolean_user_id_is_invalid_field() -> None:
    rejected = reject_one({"userId": True, "event": "e"})
    assert (rejected.code, rejected.reason) == (
        "invalid_field",
        "userId must be a string or a number, got boolean.",
    )


# --- per-type rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("event", [None, "", 12, ["e"]])
def test_track_without_a_non_empty_string_event_is_missing_event(event: object) -> None:
    body: dict[str, Any] = {"userId": "u1"}
    if event is not None:
        body["event"] = event
    rejected = reject_one(body)
    assert rejected.code == "missing_event"
    assert rejected.reason == (
        f"A track message needs a non-empty string event, got {orjson.dumps(event).decode()}."
    )


def test_group_needs_group_id() -> None:
    rejected = reject_one({"userId": "u1", "traits": {"name": "ACME"}}, "group")
    assert (rejected.code, rejected.reason) == (
        "missing_group_id",
        "A group message needs a groupId.",
    )


def test_group_keeps_group_id_and_its_traits() -> None:
    prepared = prepare_one({"userId": "u1", "groupId": "g1", "traits": {"name": "ACME"}}, "group")
    assert (prepared.group_id, prepared.traits, prepared.extra) == ("g1", {"name": "ACME"}, {})


def test_alias_keeps_previous_id_and_user_id() -> None:
    prepared = prepare_one({"userId": "u1", "previousId": "anon-9"}, "alias")
    assert (prepared.type, prepared.user_id, prepared.previous_id) == ("alias", "u1", "anon-9")


def test_alias_without_previous_id_is_missing_previous_id() -> None:
    rejected = reject_one({"userId": "u1"}, "alias")
    assert (rejected.code, rejected.reason) == (
        "missing_previous_id",
        "An alias message needs a previousId.",
    )


def test_alias_with_only_anonymous_id_is_missing_identity() -> None:
    rejected = reject_one({"anonymousId": "a1", "previousId": "p1"}, "alias")
    assert (rejected.code, rejected.reason) == (
        "missing_identity",
        "An alias message needs a userId.",
    )


@pytest.mark.parametrize("endpoint", ["page", "screen"])
def test_page_and_screen_name_becomes_event_and_category_stays_in_extra(endpoint: str) -> None:
    body = {
        "anonymousId": "a1",
        "name": "Pricing",
        "category": "Docs",
        "properties": {"url": "https://example.com/pricing"},
    }
    prepared = prepare_one(body, endpoint)
    assert prepared.type == endpoint
    assert prepared.event == "Pricing"
    assert prepared.extra == {"category": "Docs"}
    assert prepared.properties == {"url": "https://example.com/pricing"}


def test_page_without_name_has_no_event() -> None:
    prepared = prepare_one({"anonymousId": "a1"}, "page")
    assert (prepared.event, prepared.extra) == (None, {})


def test_page_keeps_a_stray_event_key_in_extra() -> None:
    prepared = prepare_one({"anonymousId": "a1", "name": "Home", "event": "odd"}, "page")
    assert (prepared.event, prepared.extra) == ("Home", {"event": "odd"})


# --- traits ---------------------------------------------------------------------------------------


def test_identify_traits_come_from_traits() -> None:
    body = {"userId": "u1", "traits": {"plan": "pro"}, "context": {"traits": {"plan": "free"}}}
    assert prepare_one(body, "identify").traits == {"plan": "pro"}


@pytest.mark.parametrize("traits", [None, {}])
def test_identify_traits_fall_back_to_context_traits(traits: dict[str, Any] | None) -> None:
    body = {"userId": "u1", "traits": traits, "context": {"traits": {"plan": "free"}}}
    assert prepare_one(body, "identify").traits == {"plan": "free"}


def test_track_traits_are_context_traits_and_top_level_traits_stay_in_extra() -> None:
    body = {
        "userId": "u1",
        "event": "e",
        "traits": {"odd": True},
        "context": {"traits": {"email": "a@example.com"}},
    }
    prepared = prepare_one(body)
    assert prepared.traits == {"email": "a@example.com"}
    assert prepared.extra == {"traits": {"odd": True}}


def test_context_traits_that_is_not_an_object_is_invalid_field() -> None:
    rejected = reject_one({"userId": "u1", "context": {"traits": "x"}}, "identify")
    assert (rejected.code, rejected.reason) == (
        "invalid_field",
        "context.traits must be an object, got string.",
    )


# --- object fields --------------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["properties", "traits", "context", "integrations"])
@pytest.mark.parametrize(
    ("value", "json_type"),
    [([], "array"), ("x", "string"), (3, "number"), (False, "boolean")],
)
def test_object_fields_must_be_objects(field: str, value: object, json_type: str) -> None:
    body = {"userId": "u1", field: value}
    rejected = reject_one(body, "identify")
    assert rejected == Rejected(
        index=0,
        payload=body,
        code="invalid_field",
        reason=f"{field} must be an object, got {json_type}.",
    )


@pytest.mark.parametrize("field", ["properties", "traits", "context", "integrations"])
def test_null_object_fields_become_empty(field: str) -> None:
    prepared = prepare_one({"userId": "u1", field: None}, "identify")
    assert getattr(prepared, field) == {}
    assert prepared.extra == {}


# --- messageId ------------------------------------------------------------------------------------


def test_message_id_is_kept_up_to_255_characters() -> None:
    assert prepare_one({"userId": "u1", "messageId": "m" * 255}, "identify").message_id == "m" * 255


def test_missing_message_id_is_generated_per_message() -> None:
    body = {"batch": [{"type": "identify", "userId": "u1"}] * 3}
    prepared, _ = prepare(body, "batch")
    assert [p.message_id for p in prepared] == ["generated-1", "generated-2", "generated-3"]


def test_default_message_id_is_a_uuid4() -> None:
    prepared, _ = prepare_messages({"userId": "u1"}, endpoint="identify", received_at=RECEIVED_AT)
    message_id = prepared[0].message_id
    assert len(message_id) == 36
    assert message_id[14] == "4"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("m" * 256, "messageId must be 1 to 255 characters long, got 256."),
        ("", "messageId must be 1 to 255 characters long, got 0."),
        ({"id": 1}, "messageId must be a string, got object."),
        (True, "messageId must be a string, got boolean."),
    ],
)
def test_bad_message_id_is_invalid_message_id(value: object, reason: str) -> None:
    rejected = reject_one({"userId": "u1", "messageId": value}, "identify")
    assert (rejected.code, rejected.reason) == ("invalid_message_id", reason)


# --- sizes ----------------------------------------------------------------------------------------


def test_message_too_large_names_its_size_and_the_limit() -> None:
    body = {"userId": "u1", "event": "e", "properties": {"blob": "x" * 40_000}}
    size = len(orjson.dumps(body))
    rejected = reject_one(body)
    assert rejected.code == "message_too_large"
    assert rejected.reason == (
        f"Message is {size} bytes, larger than the 32768 bytes (32 KB) limit."
    )


def test_message_at_exactly_the_limit_is_accepted() -> None:
    body = {"userId": "u1", "event": "e"}
    size = len(orjson.dumps(body))
    assert prepare_one(body, max_message_bytes=size).raw_size == size
    assert reject_one(body, max_message_bytes=size - 1).code == "message_too_large"


# --- batch ----------------------------------------------------------------------------------------


def test_batch_prepares_every_type_in_order() -> None:
    body = {
        "batch": [
            {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
            {"type": "track", "userId": "u1", "event": "Clicked"},
            {"type": "page", "anonymousId": "a1", "name": "Home"},
            {"type": "screen", "anonymousId": "a1", "name": "Settings"},
            {"type": "group", "userId": "u1", "groupId": "g1"},
            {"type": "alias", "userId": "u1", "previousId": "a1"},
        ]
    }
    prepared, rejected = prepare(body, "batch")
    assert rejected == []
    assert [(p.type, p.event) for p in prepared] == [
        ("identify", None),
        ("track", "Clicked"),
        ("page", "Home"),
        ("screen", "Settings"),
        ("group", None),
        ("alias", None),
    ]


def test_import_endpoint_reads_a_batch_like_batch() -> None:
    body = {"batch": [{"type": "track", "userId": "u1", "event": "Old", "timestamp": "2019-01-01"}]}
    prepared, rejected = prepare(body, "import")
    assert rejected == []
    assert prepared[0].timestamp == datetime(2019, 1, 1, tzinfo=UTC)


def test_batch_keeps_good_messages_and_rejects_bad_ones_with_their_index() -> None:
    bad_type = {"type": "purchase", "userId": "u1"}
    no_type = {"userId": "u1"}
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "A"},
            "not a message",
            bad_type,
            {"type": "track", "userId": "u1", "event": "B"},
            no_type,
            None,
            {"type": "track", "anonymousId": "a1", "event": "C"},
        ]
    }
    prepared, rejected = prepare(body, "batch")
    assert [p.event for p in prepared] == ["A", "B", "C"]
    assert rejected == [
        Rejected(1, "not a message", "not_an_object", "Message must be a JSON object, got string."),
        Rejected(
            2,
            bad_type,
            "invalid_type",
            'Message type "purchase" is not one of alias, group, identify, page, screen, track.',
        ),
        Rejected(
            4,
            no_type,
            "invalid_type",
            "Message has no type; expected one of alias, group, identify, page, screen, track.",
        ),
        Rejected(5, None, "not_an_object", "Message must be a JSON object, got null."),
    ]
    assert rejected[1].payload is bad_type


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "'batch' must be a list of messages; it is missing."),
        ({"batch": {"type": "track"}}, "'batch' must be a list of messages; got object."),
        ({"batch": None}, "'batch' must be a list of messages; got null."),
    ],
)
def test_batch_that_is_not_a_list_raises(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BodyError) as info:
        prepare(body, "batch")
    assert (info.value.code, info.value.message) == ("batch_not_a_list", message)


def test_empty_batch_prepares_nothing() -> None:
    assert prepare({"batch": []}, "batch") == ([], [])


def test_batch_context_and_integrations_merge_into_each_message() -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "A"},
            {
                "type": "track",
                "userId": "u1",
                "event": "B",
                "context": {"page": {"path": "/b"}, "ip": "5.6.7.8"},
                "integrations": {"Mixpanel": True},
            },
        ],
        "context": {"library": {"name": "analytics-python"}, "page": {"path": "/", "title": "T"}},
        "integrations": {"All": False, "Mixpanel": False},
    }
    first, second = prepare(body, "batch")[0]
    assert first.context == {
        "library": {"name": "analytics-python"},
        "page": {"path": "/", "title": "T"},
    }
    assert first.integrations == {"All": False, "Mixpanel": False}
    # Message keys win, and the merge is shallow: the message's page replaces the batch's page.
    assert second.context == {
        "library": {"name": "analytics-python"},
        "page": {"path": "/b"},
        "ip": "5.6.7.8",
    }
    assert second.integrations == {"All": False, "Mixpanel": True}


def test_batch_context_traits_feed_identify_traits() -> None:
    body = {
        "batch": [{"type": "identify", "userId": "u1"}],
        "context": {"traits": {"email": "a@example.com"}},
    }
    assert prepare(body, "batch")[0][0].traits == {"email": "a@example.com"}


def test_batch_context_that_is_not_an_object_rejects_its_messages() -> None:
    body = {"batch": [{"type": "identify", "userId": "u1"}], "context": "oops"}
    prepared, rejected = prepare(body, "batch")
    assert prepared == []
    assert [(r.index, r.code, r.reason) for r in rejected] == [
        (0, "invalid_field", "batch-level context must be an object, got string.")
    ]


def test_batch_sent_at_applies_to_messages_without_their_own() -> None:
    body = {
        "batch": [
            {"type": "identify", "userId": "u1"},
            {"type": "identify", "userId": "u2", "sentAt": "2024-05-01T10:00:05Z"},
        ],
        "sentAt": "2024-05-01T10:00:30Z",
    }
    first, second = prepare(body, "batch")[0]
    assert first.sent_at == datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
    assert second.sent_at == datetime(2024, 5, 1, 10, 0, 5, tzinfo=UTC)


def test_invalid_batch_sent_at_rejects_only_messages_that_use_it() -> None:
    body = {
        "batch": [
            {"type": "identify", "userId": "u1"},
            {"type": "identify", "userId": "u2", "sentAt": "2024-05-01T10:00:05Z"},
        ],
        "sentAt": "soon",
    }
    prepared, rejected = prepare(body, "batch")
    assert [p.user_id for p in prepared] == ["u2"]
    assert [(r.index, r.code, r.reason) for r in rejected] == [
        (
            0,
            "invalid_timestamp",
            'Batch-level sentAt "soon" is not an ISO-8601 date-time or epoch milliseconds.',
        )
    ]


def test_write_key_is_never_kept() -> None:
    message = {"type": "track", "userId": "u1", "event": "e", "writeKey": "secret-1"}
    body = {"batch": [message], "writeKey": "secret-2"}
    prepared = prepare(body, "batch")[0][0]
    assert "writeKey" not in prepared.extra
    assert (
        "secret"
        not in orjson.dumps([prepared.extra, prepared.context, prepared.properties]).decode()
    )


def test_write_key_is_removed_from_rejected_payloads() -> None:
    message = {"type": "track", "userId": "u1", "writeKey": "secret-1"}
    rejected = prepare({"batch": [message]}, "batch")[1][0]
    assert rejected.code == "missing_event"
    assert rejected.payload == {"type": "track", "userId": "u1"}
    assert message == {"type": "track", "userId": "u1", "writeKey": "secret-1"}


def test_unknown_batch_keys_go_to_extra_unless_the_message_has_the_key() -> None:
    body = {
        "batch": [
            {"type": "track", "userId": "u1", "event": "e", "channel": "mobile"},
        ],
        "channel": "server",
        "_metadata": {"bundled": ["Segment.io"]},
    }
    prepared = prepare(body, "batch")[0][0]
    assert prepared.extra == {"channel": "mobile", "_metadata": {"bundled": ["Segment.io"]}}


# --- consent --------------------------------------------------------------------------------------


def test_consent_category_preferences_are_coerced_to_bools() -> None:
    context = {
        "consent": {
            "categoryPreferences": {
                "Advertising": True,
                "Analytics": "false",
                "Functional": "TRUE",
                "Weird": 1,
                "Other": None,
            }
        }
    }
    prepared = prepare_one({"userId": "u1", "context": context}, "identify")
    assert prepared.consent == {"Advertising": True, "Analytics": False, "Functional": True}
    assert prepared.context == context


@pytest.mark.parametrize(
    "context",
    [{}, {"consent": "yes"}, {"consent": {}}, {"consent": {"categoryPreferences": ["a"]}}],
)
def test_consent_is_none_without_category_preferences(context: dict[str, Any]) -> None:
    assert prepare_one({"userId": "u1", "context": context}, "identify").consent is None


def test_consent_comes_from_the_batch_context_too() -> None:
    body = {
        "batch": [{"type": "identify", "userId": "u1"}],
        "context": {"consent": {"categoryPreferences": {"Analytics": False}}},
    }
    assert prepare(body, "batch")[0][0].consent == {"Analytics": False}


# --- time -----------------------------------------------------------------------------------------


def test_explicit_timestamp_wins_over_skew_correction() -> None:
    body = {
        "userId": "u1",
        "timestamp": "2019-03-01T08:00:00Z",
        "originalTimestamp": "2024-05-01T10:00:00Z",
        "sentAt": "2024-05-01T10:00:30Z",
    }
    prepared = prepare_one(body, "identify")
    assert prepared.timestamp == datetime(2019, 3, 1, 8, tzinfo=UTC)
    assert prepared.original_timestamp == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert prepared.sent_at == datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)


def test_clock_skew_is_corrected_from_sent_at_and_original_timestamp() -> None:
    # The device clock is 2 hours behind: it recorded the event at 10:00:00 and sent it 30 s
    # later at "10:00:30"; the server received it at 12:00:30, so the event happened at 12:00:00.
    body = {
        "userId": "u1",
        "originalTimestamp": "2024-05-01T10:00:00Z",
        "sentAt": "2024-05-01T10:00:30Z",
    }
    prepared = prepare_one(body, "identify")
    assert prepared.timestamp == datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert prepared.original_timestamp == datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    assert prepared.sent_at == datetime(2024, 5, 1, 10, 0, 30, tzinfo=UTC)
    assert prepared.received_at == RECEIVED_AT


def test_clock_skew_correction_with_milliseconds_and_offsets() -> None:
    body = {
        "userId": "u1",
        "originalTimestamp": "2024-05-01T14:59:58.250+03:00",  # 11:59:58.250 UTC
        "sentAt": 1714565399000,  # 2024-05-01T12:09:59Z
    }
    prepared = prepare_one(body, "identify")
    # 12:00:30 - (12:09:59 - 11:59:58.250) = 12:00:30 - 10:00.750 = 11:50:29.250
    assert prepared.timestamp == datetime(2024, 5, 1, 11, 50, 29, 250000, tzinfo=UTC)


def test_original_timestamp_alone_is_the_timestamp() -> None:
    prepared = prepare_one(
        {"userId": "u1", "originalTimestamp": "2024-05-01T10:00:00Z"}, "identify"
    )
    assert prepared.timestamp == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert prepared.original_timestamp == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert prepared.sent_at is None


def test_sent_at_alone_leaves_the_received_time() -> None:
    prepared = prepare_one({"userId": "u1", "sentAt": "2024-05-01T10:00:00Z"}, "identify")
    assert (prepared.timestamp, prepared.original_timestamp) == (RECEIVED_AT, None)
    assert prepared.sent_at == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_no_times_means_received_at() -> None:
    prepared = prepare_one({"userId": "u1", "timestamp": None, "sentAt": ""}, "identify")
    assert (prepared.timestamp, prepared.original_timestamp, prepared.sent_at) == (
        RECEIVED_AT,
        None,
        None,
    )


@pytest.mark.parametrize("field", ["timestamp", "originalTimestamp", "sentAt"])
@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("yesterday", '"yesterday"'),
        ("2024-13-01T00:00:00Z", '"2024-13-01T00:00:00Z"'),
        ("2024-05-01T25:00:00Z", '"2024-05-01T25:00:00Z"'),
        ("1714557600000", '"1714557600000"'),
        (True, "true"),
        ({"at": 1}, '{"at":1}'),
    ],
)
def test_unparseable_time_is_invalid_timestamp(field: str, value: object, shown: str) -> None:
    rejected = reject_one({"userId": "u1", field: value}, "identify")
    assert (rejected.code, rejected.reason) == (
        "invalid_timestamp",
        f"{field} {shown} is not an ISO-8601 date-time or epoch milliseconds.",
    )


def test_skew_correction_out_of_range_is_invalid_timestamp() -> None:
    body = {"userId": "u1", "originalTimestamp": "0001-01-01", "sentAt": "9999-12-31"}
    rejected = reject_one(body, "identify")
    assert rejected.code == "invalid_timestamp"
    assert "clock skew" in rejected.reason


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123Z", datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)),
        ("2024-05-01T10:00:00.123456789Z", datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)),
        ("2024-05-01T10:00:00,5Z", datetime(2024, 5, 1, 10, 0, 0, 500000, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:00:00+0200", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T04:30:00-05:30", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00+00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01 12:00:00 +02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01t10:00:00z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
        (" 2024-05-01T10:00:00Z ", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1714557600000, datetime(2024, 5, 1, 10, tzinfo=UTC)),
        (1714557600123.0, datetime(2024, 5, 1, 10, 0, 0, 123000, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_is_liberal_and_returns_utc(value: object, expected: datetime) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    [
        "2024-05-01T10:00:00.1234567890Z",  # 10 fraction digits
        "2024-02-30",
        "2024-05-01T10:00:00+24:00",
        "2024-05-01Z",
        "May 1, 2024",
        "",
        None,
        False,
        float("nan"),
        1e300,
    ],
)
def test_parse_timestamp_refuses_what_is_not_a_time(value: object) -> None:
    with pytest.raises(ValueError):
        parse_timestamp(value)


# --- property: nothing is lost --------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)


def json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=3) | st.dictionaries(
        st.text(max_size=6), children, max_size=3
    )


JSON_VALUES = st.recursive(JSON_SCALARS, json_containers, max_leaves=8)
IDS = st.text(min_size=1, max_size=12) | st.integers(min_value=0, max_value=10**12)
TIMES = st.sampled_from(
    ["2024-05-01T10:00:00Z", "2024-05-01 10:00:00.123456789+02:00", "2024-05-01", 1714557600000]
)


@st.composite
def valid_messages(draw: st.DrawFn) -> dict[str, Any]:
    message_type = draw(st.sampled_from(["identify", "track", "page", "screen", "group", "alias"]))
    message: dict[str, Any] = {"type": message_type, "userId": draw(IDS)}
    if message_type == "track":
        message["event"] = draw(st.text(min_size=1, max_size=12))
    if message_type == "group":
        message["groupId"] = draw(IDS)
    if message_type == "alias":
        message["previousId"] = draw(IDS)
    optional = st.fixed_dictionaries(
        {},
        optional={
            "anonymousId": IDS,
            "properties": st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3),
            "context": st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3).filter(
                lambda c: c.get("traits") is None or isinstance(c["traits"], dict)
            ),
            "timestamp": TIMES,
            "originalTimestamp": TIMES,
            "sentAt": TIMES,
            "messageId": st.text(min_size=1, max_size=40),
            "channel": JSON_VALUES,
        },
    )
    message.update(draw(optional))
    return message


INVALID_MESSAGES = st.sampled_from(
    [
        ({"type": "track", "userId": "u1"}, "missing_event"),
        ({"type": "identify"}, "missing_identity"),
        ({"type": "group", "userId": "u1"}, "missing_group_id"),
        ({"type": "alias", "userId": "u1"}, "missing_previous_id"),
        ({"type": "nope", "userId": "u1"}, "invalid_type"),
        ({"type": "identify", "userId": "u1", "traits": []}, "invalid_field"),
        ({"type": "identify", "userId": "u1", "timestamp": "later"}, "invalid_timestamp"),
        ({"type": "identify", "userId": "u1", "messageId": ""}, "invalid_message_id"),
        ({"type": "identify", "userId": "u1", "blob": "x" * 40_000}, "message_too_large"),
    ]
)
RANDOM_MESSAGES = st.fixed_dictionaries(
    {},
    optional={
        key: JSON_VALUES | IDS
        for key in ["type", "userId", "anonymousId", "event", "groupId", "previousId"]
    }
    | {
        key: JSON_VALUES | TIMES
        for key in ["timestamp", "originalTimestamp", "sentAt", "messageId"]
    }
    | {key: JSON_VALUES for key in ["properties", "traits", "context", "integrations"]},
)
ELEMENTS = st.one_of(
    valid_messages().map(lambda m: (m, None)),
    INVALID_MESSAGES.map(lambda pair: (dict(pair[0]), pair[1])),
    RANDOM_MESSAGES.map(lambda m: (m, "?")),
    JSON_SCALARS.map(lambda v: (v, "not_an_object")),
    st.lists(JSON_SCALARS, max_size=2).map(lambda v: (v, "not_an_object")),
)


@settings(max_examples=200, deadline=None)
@given(elements=st.lists(ELEMENTS, max_size=25))
def test_every_batch_element_is_either_prepared_or_rejected(
    elements: list[tuple[object, str | None]],
) -> None:
    batch = []
    for index, (element, _) in enumerate(elements):
        if isinstance(element, dict):
            element["seq"] = index  # an unknown key: it must come back in `extra`
        batch.append(element)

    prepared, rejected = prepare({"batch": batch, "writeKey": "secret"}, "batch")

    prepared_indices = [p.extra["seq"] for p in prepared]
    rejected_indices = [r.index for r in rejected]
    assert len(prepared) + len(rejected) == len(batch)
    assert sorted(prepared_indices + rejected_indices) == list(range(len(batch)))
    assert prepared_indices == sorted(prepared_indices)
    assert rejected_indices == sorted(rejected_indices)
    for item in rejected:
        assert item.payload is batch[item.index]
        expected = elements[item.index][1]
        assert expected is not None, f"valid message {item.payload!r} rejected: {item.reason}"
        assert expected in (item.code, "?")
        assert item.reason
    for item in prepared:
        expected = elements[item.extra["seq"]][1]
        assert expected in (None, "?")
        assert item.timestamp.utcoffset() == timedelta(0)
        assert item.received_at == RECEIVED_AT
        assert "writeKey" not in item.extra
