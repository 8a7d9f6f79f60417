"""Secrets at rest: destination credentials and write keys are stored encrypted (Fernet), API
tokens only as digests; nothing in the database holds them in clear, and a wrong key fails
with a clear message instead of returning garbage."""

import base64

import orjson
import pytest
from cryptography.fernet import Fernet
from django.db import connection

from activations.models import Destination
from cdpapp import crypto
from cdpapp.services import api_token_create
from profiles.models import WriteKey
from profiles.selectors.sources import source_current_key
from profiles.services.sources import source_create, source_rotate_key

pytestmark = pytest.mark.django_db
CREDENTIALS = {
    "endpoint": "https://hooks.example.com/cdp",
    "api_key": "sk_live_51QxT7uS3cr3tV4lu3",
    "client_secret": "cs-9f8e7d6c5b4a",
}


@pytest.fixture(autouse=True)
def fresh_cipher():
    """The cipher is built once per process from FIELD_ENCRYPTION_KEYS: rebuild it per test."""
    crypto._fernet.cache_clear()
    yield
    crypto._fernet.cache_clear()


def all_text_in_the_database() -> str:
    chunks = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN "
            "('text', 'character varying', 'jsonb', 'json')"
        )
        for table, column in cursor.fetchall():
            cursor.execute(f'SELECT "{column}"::text FROM "{table}" WHERE "{column}" IS NOT NULL')  # noqa: S608
            chunks.extend(row[0] for row in cursor.fetchall())
    return "\n".join(chunks)


def raw_destination_column(pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT config_encrypted FROM activations_destination WHERE id = %s", [pk])
        return cursor.fetchone()[0]


def make_destination() -> Destination:
    destination = Destination(name="Webhook", kind="webhook", purpose="email_marketing")
    destination.set_config(CREDENTIALS)
    destination.save()
    return destination


def test_destination_credentials_are_encrypted_and_decrypt_back():
    destination = make_destination()
    raw = raw_destination_column(destination.pk)
    assert raw.startswith("gAAAA")  # a Fernet token (version byte 0x80, base64)
    for secret in CREDENTIALS.values():
        assert secret not in raw
    text = all_text_in_the_database()
    assert CREDENTIALS["api_key"] not in text and CREDENTIALS["client_secret"] not in text
    assert Destination.objects.get(pk=destination.pk).config == CREDENTIALS
    # Encrypting twice gives two different tokens (random IV): equal secrets do not show.
    assert crypto.encrypt("same") != crypto.encrypt("same")


def test_write_keys_are_stored_as_digest_and_ciphertext_only(client):
    source, key = source_create(name="Web", kind="website")
    newer = source_rotate_key(source=source)
    # A failed message whose body also carries the key (as analytics.js sends it).
    response = client.post(
        "/v1/batch",
        data=orjson.dumps({"writeKey": key, "batch": [{"type": "track", "userId": "u1"}]}),
        content_type="application/json",
        headers={"Authorization": "Basic " + base64.b64encode(f"{key}:".encode()).decode()},
    )
    assert response.status_code == 200
    text = all_text_in_the_database()
    assert key not in text and newer not in text
    stored = WriteKey.objects.get(digest=WriteKey.digest_of(key))
    assert stored.encrypted.startswith("gAAAA") and crypto.decrypt(stored.encrypted) == key
    assert source_current_key(source) == newer


def test_api_tokens_are_kept_only_as_digests(make_user):
    _, token = api_token_create(user=make_user("analyst"))
    assert token not in all_text_in_the_database()


def test_a_wrong_key_fails_clearly(settings):
    destination = make_destination()
    _, write_key = source_create(name="Web", kind="website")
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    crypto._fernet.cache_clear()
    fresh = Destination.objects.get(pk=destination.pk)
    with pytest.raises(ValueError, match="cannot decrypt: wrong FIELD_ENCRYPTION_KEYS"):
        fresh.config  # noqa: B018
    stored = WriteKey.objects.get(digest=WriteKey.digest_of(write_key))
    with pytest.raises(ValueError, match="cannot decrypt: wrong FIELD_ENCRYPTION_KEYS"):
        crypto.decrypt(stored.encrypted)


def test_rotation_keeps_old_values_readable_and_encrypts_with_the_newest(settings):
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    destination = make_destination()
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    crypto._fernet.cache_clear()
    assert Destination.objects.get(pk=destination.pk).config == CREDENTIALS
    token = crypto.encrypt("rotated")
    assert Fernet(new_key.encode()).decrypt(token.encode()) == b"rotated"


def test_a_malformed_key_is_refused_at_first_use(settings):
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key"]
    crypto._fernet.cache_clear()
    with pytest.raises(ValueError, match="Fernet key must be 32 url-safe base64-encoded bytes"):
        crypto.encrypt("x")
