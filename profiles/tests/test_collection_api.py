"""The collection API over HTTP: what a client sees and what is stored, for every rule.

Every request goes through Django's test client and the real middleware; `post` asserts that
no answer is ever a 5xx.
"""

import base64
import gzip
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.models import Event, FailedEvent, Source
from profiles.services.sources import source_create, source_revoke_key, source_rotate_key

KB = 1024


@pytest.fixture
def source(db) -> Source:
    source, key = source_create(name="Web shop", kind=Source.Kind.WEBSITE)
    source.key = key
    return source


def basic(key: str, password: str = "") -> str:
    return "Basic " + base64.b64encode(f"{key}:{password}".encode()).decode()


def post(
    client,
    path: str,
    body: Any = None,
    *,
    key: str | None = None,
    raw: bytes | str | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
):
    """POST `body` (as JSON) or `raw` bytes; the answer is never a server error."""
    data = raw if raw is not None else orjson.dumps(body)
    all_headers = dict(headers or {})
    if key is not None:
        all_headers.setdefault("Authorization", basic(key))
    response = client.post(path, data=data, content_type=content_type, headers=all_headers)
    assert response.status_code < 500, response.content
    return response


def error_of(response) -> dict[str, Any]:
    """The error object; the libraries also read `code` and `message` at the top level."""
    body = response.json()
    assert set(body) == {"error", "code", "message"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    assert (body["code"], body["message"]) == (body["error"]["code"], body["error"]["message"])
    return body["error"]


def track(**fields: Any) -> dict[str, Any]:
    return {"userId": "u1", "event": "Order Completed", "properties": {"total": 42}, **fields}


def batch_of(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"batch": list(messages), **fields}


def stored_json(sql: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


# --- Acceptance -----------------------------------------------------------------------------------


def test_accepted_track_is_exactly_200_with_a_small_json_summary(client, source):
    response = post(client, "/v1/track", track(messageId="m-1"), key=source.key)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert len(response.content) < 200
    assert response.json() == {
        "success": True,
        "accepted": 1,
        "duplicates": 0,
        "suppressed": 0,
        "failed": 0,
        "errors": [],
    }
    event = Event.objects.get()
    assert (event.source, event.message_id, event.type, event.name, event.user_id) == (
        source,
        "m-1",
        "track",
        "Order Completed",
        "u1",
    )
    assert event.properties == {"total": 42}
    assert FailedEvent.objects.count() == 0


def test_batch_is_not_redirected_without_a_trailing_slash(client, source):
    response = post(client, "/v1/batch", batch_of({"type": "track", **track()}), key=source.key)

    assert response.status_code == 200
    assert "Location" not in response
    assert Event.objects.count() == 1


@pytest.mark.parametrize(
    ("path", "message", "stored_type"),
    [
        ("/v1/t", track(), "track"),
        ("/v1/p", {"anonymousId": "a1", "name": "Home"}, "page"),
        ("/v1/i", {"userId": "u1", "traits": {"email": "a@example.com"}}, "identify"),
        ("/v1/g", {"userId": "u1", "groupId": "g1"}, "group"),
        ("/v1/a", {"userId": "u1", "previousId": "a1"}, "alias"),
        ("/v1/s", {"userId": "u1", "name": "Basket"}, "screen"),
        ("/v1/b", batch_of({"type": "track", **track()}), "track"),
        ("/v1/identify", {"userId": "u1"}, "identify"),
        ("/v1/track", track(), "track"),
        ("/v1/page", {"userId": "u1"}, "page"),
        ("/v1/screen", {"userId": "u1"}, "screen"),
        ("/v1/group", {"userId": "u1", "groupId": "g1"}, "group"),
        ("/v1/alias", {"userId": "u1", "previousId": "a1"}, "alias"),
        ("/v1/batch", batch_of({"type": "page", "userId": "u1"}), "page"),
        ("/v1/import", batch_of({"type": "identify", "userId": "u1"}), "identify"),
    ],
)
def test_every_path_and_short_path_stores_its_type(client, source, path, message, stored_type):
    response = post(client, path, message, key=source.key)

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert list(Event.objects.values_list("type", flat=True)) == [stored_type]


def test_unknown_endpoint_is_404_with_the_error_shape(client, source):
    response = post(client, "/v1/purchase", track(), key=source.key)

    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert Event.objects.count() == 0


# --- Write keys -----------------------------------------------------------------------------------


def test_basic_auth_username_is_the_key_and_the_password_is_ignored(client, source):
    response = post(
        client, "/v1/track", track(), headers={"Authorization": basic(source.key, "anything")}
    )

    assert response.status_code == 200
    assert Event.objects.get().source == source


def test_write_key_in_the_body_is_accepted_and_never_stored(client, source):
    body = batch_of(
        {"type": "track", **track(messageId="m-1")},
        {"type": "track", "event": "Bad"},  # no identity: a failed event
        writeKey=source.key,
    )

    response = post(client, "/v1/batch", body)

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert response.json()["failed"] == 1
    assert_key_stored_nowhere(source.key)


def test_write_key_inside_a_single_message_body_is_accepted_and_not_stored(client, source):
    response = post(client, "/v1/track", track(writeKey=source.key))

    assert response.status_code == 200
    assert Event.objects.get().extra == {}
    assert_key_stored_nowhere(source.key)


def assert_key_stored_nowhere(key: str) -> None:
    rows = stored_json(
        "SELECT concat_ws(' ', message_id, name, user_id, anonymous_id, properties::text, "
        "traits::text, context::text, integrations::text, extra::text, consent::text) "
        "FROM profiles_event "
        "UNION ALL SELECT concat_ws(' ', payload::text, raw, reason) FROM profiles_failedevent"
    )
    assert rows
    assert not [row for row in rows if key in row]


@pytest.mark.parametrize(
    "request_body",
    [
        # Request-level failures keep the start of the raw body: the key must be cut out of it.
        b'{"writeKey": "%s", "batch": "not a list"}',
        b'{"batch": [], "writeKey": "%s", "context": {"x": "' + b"y" * 20 * KB + b'"}}',
    ],
)
def test_write_key_is_cut_from_the_raw_body_kept_for_a_rejected_request(
    client, source, request_body
):
    source.max_batch_bytes = 10 * KB
    source.save()

    response = post(client, "/v1/batch", raw=request_body.replace(b"%s", source.key.encode()))

    assert response.status_code == 400
    failed = FailedEvent.objects.get()
    assert failed.raw
    assert_key_stored_nowhere(source.key)


def test_basic_auth_key_wins_over_a_body_key(client, source):
    response = post(client, "/v1/track", track(writeKey=source.key), key="wk_unknown")

    assert response.status_code == 401
    assert Event.objects.count() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": basic("wk_unknown")},
        {"Authorization": basic("")},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Bearer something"},
    ],
)
def test_missing_or_unknown_key_is_401(client, source, headers):
    response = post(client, "/v1/track", track(), headers=headers)

    assert response.status_code == 401
    assert error_of(response)["code"] == "invalid_write_key"
    assert response["WWW-Authenticate"] == 'Basic realm="collection"'
    assert Event.objects.count() == 0
    assert FailedEvent.objects.count() == 0


def test_unknown_key_in_the_body_is_401(client, source):
    response = post(client, "/v1/batch", batch_of({"type": "track", **track()}, writeKey="wk_no"))

    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_revoked_key_is_401(client, source):
    source_revoke_key(write_key=source.write_keys.get())

    response = post(client, "/v1/track", track(), key=source.key)

    assert response.status_code == 401
    assert Event.objects.count() == 0


def test_rotated_key_works_during_its_grace_and_is_401_after_it(client, source):
    new_key = source_rotate_key(source=source, grace=timedelta(hours=1))

    assert post(client, "/v1/track", track(), key=source.key).status_code == 200
    assert post(client, "/v1/track", track(), key=new_key).status_code == 200

    source.write_keys.exclude(expires_at=None).update(
        expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )

    assert post(client, "/v1/track", track(), key=source.key).status_code == 401
    assert post(client, "/v1/track", track(), key=new_key).status_code == 200
    assert Event.objects.count() == 3


def test_disabled_source_is_401(client, source):
    source.enabled = False
    source.save()

    response = post(client, "/v1/track", track(), key=source.key)

    assert response.status_code == 401
    assert Event.objects.count() == 0


# --- Bodies ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b'{"userId": "u1", "event": ', "invalid_json"),
        (b"", "empty_body"),
        (b"   \n", "empty_body"),
        (b"[1, 2]", "not_an_object"),
        (b'"just a string"', "not_an_object"),
        (b'{"event": "\\ud800"}', "invalid_json"),  # a lone surrogate
        (b"\xff\xfe{}", "invalid_json"),
    ],
)
def test_undecodable_body_is_400_and_kept_as_a_failed_event(client, source, raw, code):
    response = post(client, "/v1/track", raw=raw, key=source.key)

    assert response.status_code == 400
    assert error_of(response)["code"] == code
    failed = FailedEvent.objects.get()
    assert (failed.source, failed.endpoint, failed.code) == (source, "track", code)
    assert failed.raw == raw.decode("utf-8", "replace")
    assert Event.objects.count() == 0


def test_batch_that_is_not_a_list_is_400(client, source):
    response = post(client, "/v1/batch", {"batch": {"type": "track"}}, key=source.key)

    assert response.status_code == 400
    assert error_of(response)["code"] == "batch_not_a_list"
    assert FailedEvent.objects.get().code == "batch_not_a_list"


def test_batch_over_the_default_500_kb_is_400_and_kept(client, source):
    body = batch_of(track(type="track", properties={"blob": "x" * 501 * KB}))

    response = post(client, "/v1/batch", body, key=source.key)

    assert response.status_code == 400
    assert error_of(response)["code"] == "body_too_large"
    failed = FailedEvent.objects.get()
    assert failed.code == "body_too_large"
    assert len(failed.raw) == 4096
    assert Event.objects.count() == 0


def test_batch_just_under_the_default_limit_is_accepted(client, source):
    messages = [
        track(type="track", messageId=f"m-{n}", properties={"blob": "x" * 20 * KB})
        for n in range(24)
    ]

    response = post(client, "/v1/batch", batch_of(*messages), key=source.key)

    assert response.status_code == 200
    assert response.json()["accepted"] == 24


def test_source_batch_limit_applies(client, source):
    source.max_batch_bytes = 10 * KB
    source.save()
    messages = [track(type="track", properties={"n": n, "pad": "x" * 500}) for n in range(30)]

    response = post(client, "/v1/batch", batch_of(*messages), key=source.key)

    assert response.status_code == 400
    assert error_of(response)["code"] == "body_too_large"
    assert "10 KB" in error_of(response)["message"]
    assert FailedEvent.objects.get().code == "body_too_large"
    assert Event.objects.count() == 0


def test_source_batch_limit_applies_to_a_key_sent_in_the_body(client, source):
    source.max_batch_bytes = 10 * KB
    source.save()
    body = batch_of(track(type="track", properties={"pad": "x" * 20 * KB}), writeKey=source.key)

    response = post(client, "/v1/batch", body)

    assert response.status_code == 400
    assert error_of(response)["code"] == "body_too_large"
    assert FailedEvent.objects.get().code == "body_too_large"


def test_a_source_may_accept_batches_larger_than_djangos_upload_limit(client, source, settings):
    # RudderStack's libraries send batches of up to 4 MB; Django's own 2.5 MB cap must not apply.
    source.max_batch_bytes = settings.COLLECT_MAX_BODY_BYTES
    source.max_message_bytes = 64 * KB
    source.save()
    messages = [
        track(type="track", messageId=f"m-{n}", properties={"blob": "x" * 30 * KB})
        for n in range(100)
    ]

    response = post(client, "/v1/batch", batch_of(*messages), key=source.key)

    assert response.status_code == 200
    assert response.json()["accepted"] == 100


def test_body_over_the_hard_cap_is_400_with_the_error_shape(client, source, settings):
    source.max_batch_bytes = settings.COLLECT_MAX_BODY_BYTES
    source.save()
    raw = b'{"batch": [], "pad": "' + b"x" * settings.COLLECT_MAX_BODY_BYTES + b'"}'

    response = post(client, "/v1/batch", raw=raw, key=source.key)

    assert response.status_code == 400
    assert error_of(response)["code"] == "body_too_large"
    assert FailedEvent.objects.get().code == "body_too_large"


def test_single_message_over_the_message_limit_is_400_and_kept(client, source):
    response = post(client, "/v1/track", track(properties={"blob": "x" * 33 * KB}), key=source.key)

    assert response.status_code == 400
    assert error_of(response)["code"] == "message_too_large"
    failed = FailedEvent.objects.get()
    assert failed.code == "message_too_large"
    assert failed.payload["event"] == "Order Completed"
    assert Event.objects.count() == 0


def test_oversize_message_in_a_batch_fails_alone(client, source):
    body = batch_of(
        track(type="track", messageId="big", properties={"blob": "x" * 33 * KB}),
        track(type="track", messageId="small"),
    )

    response = post(client, "/v1/batch", body, key=source.key)

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert response.json()["errors"][0]["code"] == "message_too_large"
    assert list(Event.objects.values_list("message_id", flat=True)) == ["small"]
    assert FailedEvent.objects.get().payload["messageId"] == "big"


def test_source_message_limit_applies(client, source):
    source.max_message_bytes = 1 * KB
    source.save()

    response = post(client, "/v1/track", track(properties={"blob": "x" * 2 * KB}), key=source.key)

    assert response.status_code == 400
    assert error_of(response)["code"] == "message_too_large"


@pytest.mark.parametrize("declared", [True, False])
def test_gzip_body_is_accepted_with_or_without_the_header(client, source, declared):
    headers = {"Content-Encoding": "gzip"} if declared else {}
    raw = gzip.compress(orjson.dumps(batch_of({"type": "track", **track(messageId="gz")})))

    response = post(client, "/v1/batch", raw=raw, key=source.key, headers=headers)

    assert response.status_code == 200
    assert Event.objects.get().message_id == "gz"


def test_identity_encoding_is_accepted(client, source):
    response = post(
        client, "/v1/track", track(), key=source.key, headers={"Content-Encoding": "identity"}
    )

    assert response.status_code == 200


def test_unsupported_encoding_is_400(client, source):
    response = post(
        client, "/v1/track", track(), key=source.key, headers={"Content-Encoding": "br"}
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "unsupported_encoding"


def test_corrupt_gzip_is_400(client, source):
    raw = gzip.compress(orjson.dumps(track()))[:-12]

    response = post(
        client, "/v1/track", raw=raw, key=source.key, headers={"Content-Encoding": "gzip"}
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "bad_gzip"
    assert FailedEvent.objects.get().code == "bad_gzip"


def _gzip_bomb(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    zeros = bytes(1024 * KB)
    parts = [compressor.compress(zeros) for _ in range(size // len(zeros))]
    return b"".join(parts) + compressor.flush()


def test_gzip_bomb_is_400_without_inflating_it(client, source):
    bomb = _gzip_bomb(100 * 1024 * KB)  # 100 MB of zeros in about 100 KB
    assert len(bomb) < 200 * KB

    tracemalloc.start()
    try:
        response = post(
            client, "/v1/batch", raw=bomb, key=source.key, headers={"Content-Encoding": "gzip"}
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status_code == 400
    assert error_of(response)["code"] == "body_too_large"
    # Stopped at the source's 500 KB limit: nowhere near 100 MB was ever held in memory.
    assert peak < 10 * 1024 * KB
    assert FailedEvent.objects.get().code == "body_too_large"


def test_text_plain_body_is_json(client, source):
    response = post(client, "/v1/track", track(), key=source.key, content_type="text/plain")

    assert response.status_code == 200
    assert Event.objects.get().name == "Order Completed"


@pytest.mark.parametrize(
    "encode",
    [
        lambda body: urlencode({"data": orjson.dumps(body).decode()}),
        lambda body: urlencode({"data": base64.b64encode(orjson.dumps(body)).decode()}),
        lambda body: orjson.dumps(body).decode(),
    ],
    ids=["data-json", "data-base64", "whole-body-json"],
)
def test_form_encoded_body_is_accepted(client, source, encode):
    body = batch_of({"type": "track", **track(messageId="form")}, writeKey=source.key)

    response = post(
        client, "/v1/batch", raw=encode(body), content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 200
    assert Event.objects.get().message_id == "form"


# --- HTTP methods and CORS ------------------------------------------------------------------------


def test_preflight_answers_cors_headers_without_a_key(client, db):
    response = client.options(
        "/v1/batch",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type, authorization",
        },
    )

    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert "POST" in response["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "authorization", "content-encoding"} <= allowed
    assert int(response["Access-Control-Max-Age"]) > 0
    assert "Origin" in response["Vary"]


def test_preflight_allows_the_retry_header_of_analytics_js(client, db):
    # analytics.js 2.0 adds X-Retry-Count to every retry; refused, each retry fails in the
    # browser before it is sent, and the library drops the message after its last attempt.
    response = client.options(
        "/v1/t",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type,x-retry-count",
        },
    )

    allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-retry-count"} <= allowed


def test_preflight_allows_headers_a_site_adds(client, db):
    response = client.options(
        "/v1/batch",
        headers={
            "Origin": "https://shop.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-shop-release",
        },
    )

    allowed = {h.strip().lower() for h in response["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "x-shop-release"} <= allowed
    assert "Access-Control-Allow-Credentials" not in response


def test_post_answers_carry_cors_headers(client, source):
    response = post(
        client, "/v1/t", track(), key=source.key, headers={"Origin": "https://a.example"}
    )
    rejected = post(client, "/v1/t", track(), key="wk_x", headers={"Origin": "https://a.example"})

    assert response["Access-Control-Allow-Origin"] == "https://a.example"
    assert rejected["Access-Control-Allow-Origin"] == "https://a.example"


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_other_methods_are_405(client, source, method):
    response = getattr(client, method)("/v1/track", headers={"Authorization": basic(source.key)})

    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert "POST" in response["Allow"]
    assert Event.objects.count() == 0


# --- Rate limit -----------------------------------------------------------------------------------


def test_rate_limit_answers_429_with_retry_after(client, source, monkeypatch):
    source.rate_limit_per_second = 2
    source.save()
    # Every request falls in the same second, whatever the speed of the machine.
    monkeypatch.setattr(
        "profiles.services.collection.time", SimpleNamespace(time=lambda: 1_700_000_000.5)
    )

    answers = [
        post(client, "/v1/track", track(messageId=f"m-{n}"), key=source.key) for n in range(4)
    ]

    assert [a.status_code for a in answers] == [200, 200, 429, 429]
    assert answers[2]["Retry-After"] == "1"
    # A browser library may read it only if it is exposed to cross-origin scripts.
    assert "Retry-After" in answers[2]["Access-Control-Expose-Headers"]
    assert error_of(answers[2])["code"] == "rate_limited"
    assert Event.objects.count() == 2
    assert FailedEvent.objects.count() == 0


def test_rate_limit_counts_per_second(client, source, monkeypatch):
    source.rate_limit_per_second = 2
    source.save()
    clock = SimpleNamespace(time=lambda: 1_700_000_000.0)
    monkeypatch.setattr("profiles.services.collection.time", clock)

    first = [post(client, "/v1/track", track(), key=source.key).status_code for _ in range(3)]
    clock.time = lambda: 1_700_000_001.0
    second = [post(client, "/v1/track", track(), key=source.key).status_code for _ in range(2)]

    assert first == [200, 200, 429]
    assert second == [200, 200]


# --- Messages -------------------------------------------------------------------------------------


def test_batch_keeps_valid_messages_and_stores_each_invalid_one_with_its_reason(client, source):
    body = batch_of(
        {"type": "track", **track(messageId="ok-1")},
        {"type": "track", "userId": "u1"},  # no event
        "not an object",
        {"type": "purchase", "userId": "u1"},
        {"type": "identify", "anonymousId": "a1", "messageId": "ok-2"},
        {"type": "track", "event": "X", "userId": "u1", "timestamp": "yesterday"},
        {"type": "group", "userId": "u1"},  # no groupId
    )

    response = post(client, "/v1/batch", body, key=source.key)

    assert response.status_code == 200
    answer = response.json()
    assert (answer["accepted"], answer["duplicates"], answer["failed"]) == (2, 0, 5)
    assert [(e["index"], e["code"]) for e in answer["errors"]] == [
        (1, "missing_event"),
        (2, "not_an_object"),
        (3, "invalid_type"),
        (5, "invalid_timestamp"),
        (6, "missing_group_id"),
    ]
    assert sorted(Event.objects.values_list("message_id", flat=True)) == ["ok-1", "ok-2"]
    failed = {f.code: f for f in FailedEvent.objects.all()}
    assert set(failed) == {
        "missing_event",
        "not_an_object",
        "invalid_type",
        "invalid_timestamp",
        "missing_group_id",
    }
    assert failed["not_an_object"].payload == "not an object"
    assert failed["invalid_type"].payload == {"type": "purchase", "userId": "u1"}
    assert "yesterday" in failed["invalid_timestamp"].reason
    assert all(f.source == source and f.endpoint == "batch" for f in failed.values())
    assert all(f.reason for f in failed.values())


def test_replaying_a_batch_stores_nothing_twice(client, source):
    body = batch_of(*[{"type": "track", **track(messageId=f"m-{n}")} for n in range(5)])

    first = post(client, "/v1/batch", body, key=source.key).json()
    second = post(client, "/v1/batch", body, key=source.key).json()

    assert (first["accepted"], first["duplicates"]) == (5, 0)
    assert (second["accepted"], second["duplicates"]) == (0, 5)
    assert Event.objects.count() == 5


def test_duplicates_within_one_batch_are_stored_once(client, source):
    message = {"type": "track", **track(messageId="same")}

    answer = post(client, "/v1/batch", batch_of(message, message), key=source.key).json()

    assert (answer["accepted"], answer["duplicates"]) == (1, 1)
    assert Event.objects.count() == 1


def test_same_message_id_from_another_source_is_not_a_duplicate(client, source):
    other, other_key = source_create(name="App", kind=Source.Kind.MOBILE_APP)

    post(client, "/v1/track", track(messageId="m-1"), key=source.key)
    answer = post(client, "/v1/track", track(messageId="m-1"), key=other_key).json()

    assert answer["accepted"] == 1
    assert set(Event.objects.filter(message_id="m-1").values_list("source", flat=True)) == {
        source.pk,
        other.pk,
    }


def test_missing_message_id_is_generated(client, source):
    post(client, "/v1/track", track(), key=source.key)
    post(client, "/v1/track", track(), key=source.key)

    ids = list(Event.objects.values_list("message_id", flat=True))
    assert len(ids) == 2
    assert len(set(ids)) == 2
    assert all(len(message_id) == 36 for message_id in ids)


def test_null_and_empty_ids_are_stored_as_absent(client, source):
    body = {
        "userId": None,
        "anonymousId": "a1",
        "groupId": "",
        "event": "Viewed",
        "previousId": None,
    }

    post(client, "/v1/track", body, key=source.key)

    event = Event.objects.get()
    assert (event.user_id, event.anonymous_id, event.group_id, event.previous_id) == (
        None,
        "a1",
        None,
        None,
    )
    assert event.extra == {}


def test_number_ids_are_stored_as_strings(client, source):
    post(client, "/v1/track", {"userId": 12345, "event": "Viewed"}, key=source.key)

    assert Event.objects.get().user_id == "12345"


def test_context_traits_are_the_traits_of_a_track_and_a_bare_identify(client, source):
    context = {"traits": {"email": "ann@example.com", "plan": "pro"}}
    body = batch_of(
        {"type": "track", **track(messageId="t", context=context)},
        {"type": "identify", "userId": "u1", "messageId": "i", "context": context},
        {
            "type": "identify",
            "userId": "u1",
            "messageId": "own",
            "traits": {"name": "Ann"},
            "context": context,
        },
    )

    post(client, "/v1/batch", body, key=source.key)

    traits = dict(Event.objects.values_list("message_id", "traits"))
    assert traits["t"] == context["traits"]
    assert traits["i"] == context["traits"]
    assert traits["own"] == {"name": "Ann"}


def test_batch_level_context_and_integrations_are_merged_into_each_message(client, source):
    body = batch_of(
        {"type": "track", **track(messageId="a", context={"ip": "10.0.0.2"})},
        {"type": "page", "userId": "u1", "messageId": "b", "integrations": {"Mixpanel": True}},
        context={"ip": "10.0.0.1", "library": {"name": "analytics-python"}},
        integrations={"All": False},
    )

    post(client, "/v1/batch", body, key=source.key)

    stored = {e.message_id: e for e in Event.objects.all()}
    assert stored["a"].context == {"ip": "10.0.0.2", "library": {"name": "analytics-python"}}
    assert stored["b"].context == {"ip": "10.0.0.1", "library": {"name": "analytics-python"}}
    assert stored["a"].integrations == {"All": False}
    assert stored["b"].integrations == {"All": False, "Mixpanel": True}


def test_unknown_keys_are_kept_in_extra(client, source):
    body = batch_of(
        {"type": "page", "userId": "u1", "name": "Home", "category": "Docs", "channel": "web"},
        {"type": "track", **track(version=2)},
        requestId="r-1",
    )

    post(client, "/v1/batch", body, key=source.key)

    extra = dict(Event.objects.values_list("type", "extra"))
    assert extra["page"] == {"category": "Docs", "channel": "web", "requestId": "r-1"}
    assert extra["track"] == {"version": 2, "requestId": "r-1"}
    assert Event.objects.get(type="page").name == "Home"


def test_consent_is_captured_from_category_preferences(client, source):
    context = {
        "consent": {"categoryPreferences": {"Advertising": False, "Analytics": "true", "Odd": 3}}
    }

    post(client, "/v1/track", track(context=context), key=source.key)
    post(client, "/v1/track", track(), key=source.key)

    consents = list(Event.objects.order_by("id").values_list("consent", flat=True))
    assert consents == [{"Advertising": False, "Analytics": True}, None]
    assert Event.objects.first().context == context


def test_batch_level_consent_applies_to_every_message(client, source):
    body = batch_of(
        {"type": "track", **track(messageId="a")},
        {"type": "identify", "userId": "u1", "messageId": "b"},
        context={"consent": {"categoryPreferences": {"Marketing": True}}},
    )

    post(client, "/v1/batch", body, key=source.key)

    assert list(Event.objects.values_list("consent", flat=True)) == [{"Marketing": True}] * 2


# --- Times ----------------------------------------------------------------------------------------


def test_clock_skew_is_corrected_from_sent_at_and_original_timestamp(client, source):
    # The device's clock is two days fast; the event happened 30 s before it was sent.
    body = batch_of(
        {
            "type": "track",
            **track(originalTimestamp="2030-01-03T10:00:00Z"),
        },
        sentAt="2030-01-03T10:00:30Z",
    )

    post(client, "/v1/batch", body, key=source.key)

    event = Event.objects.get()
    assert event.timestamp == event.received_at - timedelta(seconds=30)
    assert event.original_timestamp == datetime(2030, 1, 3, 10, 0, tzinfo=UTC)
    assert event.sent_at == datetime(2030, 1, 3, 10, 0, 30, tzinfo=UTC)
    assert abs(event.received_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_explicit_timestamp_wins_over_skew_correction(client, source):
    body = track(
        timestamp="2024-05-01T12:00:00+02:00",
        originalTimestamp="2030-01-03T10:00:00Z",
        sentAt="2030-01-03T10:00:30Z",
    )

    post(client, "/v1/track", body, key=source.key)

    event = Event.objects.get()
    assert event.timestamp == datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
    assert event.original_timestamp == datetime(2030, 1, 3, 10, 0, tzinfo=UTC)


def test_epoch_milliseconds_are_a_timestamp(client, source):
    post(client, "/v1/track", track(timestamp=1714564800000), key=source.key)

    assert Event.objects.get().timestamp == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_no_times_means_the_received_time(client, source):
    post(client, "/v1/track", track(), key=source.key)

    event = Event.objects.get()
    assert event.timestamp == event.received_at
    assert event.original_timestamp is None
    assert event.sent_at is None


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999Z", "9999-12-31T20:00:00-05:00"]
)
def test_extreme_timestamps_are_stored_or_failed_never_500(client, source, value):
    answer = post(client, "/v1/track", track(timestamp=value), key=source.key).json()

    assert answer["accepted"] + answer["failed"] == 1
    assert Event.objects.count() + FailedEvent.objects.count() == 1


# --- What PostgreSQL cannot store -----------------------------------------------------------------


@pytest.mark.parametrize(
    "message",
    [
        track(event="Order\x00Completed"),
        track(userId="u\x001"),
        track(properties={"note": "a\x00b"}),
        track(properties={"k\x00ey": 1}),
        track(context={"page": {"title": "\x00"}}),
        track(messageId="m\x00"),
        track(extraKey="\x00"),
    ],
)
def test_nul_character_makes_a_failed_event_not_a_500(client, source, message):
    response = post(client, "/v1/track", message, key=source.key)

    assert response.status_code == 200
    answer = response.json()
    assert (answer["accepted"], answer["failed"]) == (0, 1)
    failed = FailedEvent.objects.get()
    assert failed.code == "nul_character"
    assert "\x00" not in orjson.dumps(failed.payload).decode()
    assert Event.objects.count() == 0


def test_nul_character_in_one_message_of_a_batch_fails_only_that_one(client, source):
    body = batch_of(
        {"type": "track", **track(messageId="bad", properties={"x": "\x00"})},
        {"type": "track", **track(messageId="good")},
    )

    answer = post(client, "/v1/batch", body, key=source.key).json()

    assert (answer["accepted"], answer["failed"]) == (1, 1)
    assert Event.objects.get().message_id == "good"


def test_errors_name_each_message_by_its_place_in_the_batch(client, source):
    source.tracking_plan = {"Order Completed": {"total": "number"}}
    source.tracking_plan_mode = Source.PlanMode.QUARANTINE
    source.save()
    body = batch_of(
        {"type": "track", "userId": "u1"},  # refused while preparing: no event
        {"type": "track", **track(messageId="nul", properties={"total": 1, "x": "\x00"})},
        {"type": "track", **track(messageId="ok")},
        {"type": "track", **track(messageId="long", userId="u" * 300)},
        {"type": "track", **track(messageId="plan", properties={"total": "1"})},
        {"type": "track", **track(messageId="key-nul", properties={"total": 1, "\x00": 1})},
    )

    answer = post(client, "/v1/batch", body, key=source.key).json()

    assert [(e["index"], e["code"]) for e in answer["errors"]] == [
        (0, "missing_event"),
        (1, "nul_character"),
        (3, "field_too_long"),
        (4, "tracking_plan"),
        (5, "nul_character"),
    ]
    assert list(Event.objects.values_list("message_id", flat=True)) == ["ok"]
    assert FailedEvent.objects.count() == 5


def test_errors_keep_their_batch_index_when_an_erased_person_is_dropped(client, source):
    from privacy.domain.suppression import digest
    from privacy.models import Suppression
    from privacy.selectors import suppression_key

    Suppression.objects.create(
        digest=digest(suppression_key(), "user_id", "erased"), id_type="user_id"
    )
    body = batch_of(
        {"type": "track", **track(messageId="gone", userId="erased")},
        {"type": "track", **track(messageId="ok")},
        {"type": "track", **track(messageId="nul", properties={"x": "\x00"})},
    )

    answer = post(client, "/v1/batch", body, key=source.key).json()

    assert (answer["accepted"], answer["suppressed"], answer["failed"]) == (1, 1, 1)
    assert [(e["index"], e["code"]) for e in answer["errors"]] == [(2, "nul_character")]
    assert list(Event.objects.values_list("message_id", flat=True)) == ["ok"]


def test_text_that_only_looks_like_an_escaped_nul_is_stored(client, source):
    answer = post(
        client, "/v1/track", track(properties={"code": "printf('\\u0000')"}), key=source.key
    ).json()

    assert answer["accepted"] == 1
    assert Event.objects.get().properties == {"code": "printf('\\u0000')"}


@pytest.mark.parametrize(
    "message",
    [
        track(event="E" * 256),
        track(userId="u" * 256),
        track(anonymousId="a" * 256),
        {"userId": "u1", "groupId": "g" * 256},
        {"userId": "u1", "previousId": "p" * 256},
        {"userId": "u1", "name": "n" * 256},
    ],
)
def test_ids_and_names_longer_than_their_columns_fail_alone(client, source, message):
    endpoint = "track" if "event" in message else "group" if "groupId" in message else "alias"
    if "name" in message:
        endpoint = "page"

    response = post(client, f"/v1/{endpoint}", message, key=source.key)

    assert response.status_code == 200
    assert response.json()["failed"] == 1
    assert FailedEvent.objects.get().code == "field_too_long"
    assert Event.objects.count() == 0


def test_ids_and_names_at_their_column_length_are_stored(client, source):
    answer = post(
        client, "/v1/track", track(event="E" * 255, userId="u" * 255), key=source.key
    ).json()

    assert answer["accepted"] == 1


def test_jsonb_columns_hold_objects(client, source):
    body = batch_of(
        {"type": "track", **track(context={"ip": "1.2.3.4"}, integrations={"All": True})},
        {"type": "identify", "userId": "u1", "traits": {"email": "a@example.com"}},
        {"type": "page", "userId": "u1"},
        context={"consent": {"categoryPreferences": {"Analytics": True}}},
    )
    post(client, "/v1/batch", body, key=source.key)

    rows = stored_json(
        "SELECT jsonb_build_array(jsonb_typeof(properties), jsonb_typeof(traits), "
        "jsonb_typeof(context), jsonb_typeof(integrations), jsonb_typeof(extra), "
        "jsonb_typeof(consent), jsonb_typeof(violations))::text FROM profiles_event"
    )

    assert [orjson.loads(row) for row in rows] == [
        ["object", "object", "object", "object", "object", "object", "array"]
    ] * 3


# --- Tracking plan --------------------------------------------------------------------------------

PLAN = {"Order Completed": {"total": "number", "order_id": "string"}}


def test_tracking_plan_in_flag_mode_keeps_the_event_with_its_violations(client, source):
    source.tracking_plan = PLAN
    source.tracking_plan_mode = Source.PlanMode.FLAG
    source.save()
    body = batch_of(
        {"type": "track", **track(messageId="ok", properties={"total": 1, "order_id": "o1"})},
        {"type": "track", **track(messageId="bad", properties={"total": "1"})},
        {"type": "track", **track(messageId="unplanned", event="Coupon Applied")},
        {"type": "identify", "userId": "u1", "messageId": "id"},
    )

    answer = post(client, "/v1/batch", body, key=source.key).json()

    assert (answer["accepted"], answer["failed"]) == (4, 0)
    violations = dict(Event.objects.values_list("message_id", "violations"))
    assert violations["ok"] == []
    assert violations["id"] == []
    assert sorted(violations["bad"]) == [
        "property 'order_id' is required",
        "property 'total' should be number, got str",
    ]
    assert violations["unplanned"] == ["event 'Coupon Applied' is not in the tracking plan"]
    assert FailedEvent.objects.count() == 0


def test_tracking_plan_in_quarantine_mode_fails_violating_events(client, source):
    source.tracking_plan = PLAN
    source.tracking_plan_mode = Source.PlanMode.QUARANTINE
    source.save()
    body = batch_of(
        {"type": "track", **track(messageId="ok", properties={"total": 1, "order_id": "o1"})},
        {"type": "track", **track(messageId="bad", properties={"total": "1"})},
    )

    answer = post(client, "/v1/batch", body, key=source.key).json()

    assert (answer["accepted"], answer["failed"]) == (1, 1)
    assert answer["errors"][0]["code"] == "tracking_plan"
    assert list(Event.objects.values_list("message_id", flat=True)) == ["ok"]
    failed = FailedEvent.objects.get()
    assert failed.code == "tracking_plan"
    assert "order_id" in failed.reason
    assert failed.payload["messageId"] == "bad"
    assert failed.payload["properties"] == {"total": "1"}


# --- Anything at all ------------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
MESSAGES = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["track", "identify", "page", "screen", "group", "alias", "x"])
        | JSON_VALUES,
        "userId": st.text(max_size=300) | JSON_VALUES,
        "anonymousId": st.text(max_size=20),
        "groupId": st.text(max_size=300),
        "previousId": st.text(max_size=20),
        "event": st.text(max_size=300),
        "name": st.text(max_size=300),
        "messageId": st.text(max_size=300) | JSON_VALUES,
        "timestamp": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat) | JSON_VALUES,
        "originalTimestamp": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
        "sentAt": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat),
        "properties": JSON_VALUES,
        "traits": JSON_VALUES,
        "context": JSON_VALUES,
        "integrations": JSON_VALUES,
    },
)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(messages=st.lists(MESSAGES | JSON_VALUES, max_size=8))
def test_any_batch_is_answered_and_every_message_stored_or_failed(client, source, messages):
    Source.objects.filter(pk=source.pk).update(rate_limit_per_second=1_000_000)
    events_before = Event.objects.count()
    failed_before = FailedEvent.objects.count()

    response = post(client, "/v1/batch", batch_of(*messages), key=source.key)

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        answer = response.json()
        assert answer["accepted"] + answer["duplicates"] + answer["failed"] == len(messages)
        assert Event.objects.count() - events_before == answer["accepted"]
        assert FailedEvent.objects.count() - failed_before == answer["failed"]
