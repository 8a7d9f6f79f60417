import pytest
from django.core.management import call_command

from cdpapp.models import ApiToken
from cdpapp.services import api_token_revoke

pytestmark = pytest.mark.django_db


def test_token_authenticates_and_reports_the_role(api_client_for):
    client = api_client_for("marketer")
    body = client.get("/api/me").json()
    assert body["username"] == "api-marketer"
    assert body["role"] == "marketer"
    assert "manage_segments" in body["capabilities"]
    assert "manage_users" not in body["capabilities"]


def test_tokens_are_stored_only_as_digests(make_user):
    from cdpapp.services import api_token_create

    api_token, token = api_token_create(user=make_user("analyst"))
    stored = ApiToken.objects.get(pk=api_token.pk)
    assert token not in (stored.digest, stored.prefix)
    assert stored.digest == ApiToken.digest_of(token)


def test_bad_and_revoked_tokens_get_401_in_the_error_shape(api_client_for):
    client = api_client_for("admin")
    client.credentials(HTTP_AUTHORIZATION="Token nope")
    response = client.get("/api/me")
    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "authentication_failed",
            "message": "Invalid or revoked token.",
            "details": {},
        }
    }
    token = ApiToken.objects.get(user__username="api-admin")
    api_token_revoke(api_token=token)
    assert client.get("/api/me").status_code == 401


def test_forbidden_and_not_found_use_the_error_shape(api_client_for):
    client = api_client_for("analyst")
    forbidden = client.get("/api/users/")
    assert forbidden.status_code == 403
    assert forbidden.json()["error"]["code"] == "permission_denied"
    missing = client.get("/api/does-not-exist/")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"


def test_lists_paginate_with_count_next_results(api_client_for, make_user):
    client = api_client_for("admin")
    for i in range(3):
        make_user("analyst", username=f"someone-{i}")
    body = client.get("/api/users/?page_size=2").json()
    assert body["count"] == 4
    assert len(body["results"]) == 2
    assert "page=2" in body["next"]


def test_throttled_requests_get_429_with_retry_after(api_client_for, settings):
    from django.core.cache import cache
    from rest_framework.throttling import UserRateThrottle

    cache.clear()
    client = api_client_for("analyst")
    original = UserRateThrottle.THROTTLE_RATES
    UserRateThrottle.THROTTLE_RATES = {"user": "2/min"}
    try:
        codes = [client.get("/api/me").status_code for _ in range(3)]
        last = client.get("/api/me")
    finally:
        UserRateThrottle.THROTTLE_RATES = original
        cache.clear()
    assert codes[:2] == [200, 200]
    assert last.status_code == 429
    assert int(last["Retry-After"]) > 0
    assert last.json()["error"]["code"] == "throttled"


def test_schema_and_docs_are_served_without_a_cdn(api_client_for):
    client = api_client_for("analyst")
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/me" in schema.content.decode()
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn" not in docs.lower() and "unpkg" not in docs.lower()


def test_create_user_prints_the_token_last(capsys):
    call_command("create_user", "dana", "--role", "analyst", "--password", "a-long-password")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert ApiToken.objects.get(digest=ApiToken.digest_of(token)).user.username == "dana"


def test_create_user_refuses_a_duplicate(make_user):
    from django.core.management.base import CommandError

    make_user("analyst", username="erin")
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_user", "erin", "--role", "admin")
