"""Shared fixtures. Tests run on a real PostgreSQL: a throwaway embedded server, or DATABASE_URL."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

TEST_PASSWORD = "correct-horse-battery"  # noqa: S105

# Playwright's sync API runs an event loop in the test thread; the ORM calls made by fixtures
# from that thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def django_db_modify_db_settings():
    """Point the embedded backend at a throwaway data folder, deleted when the run ends."""
    from django.db import connections

    embedded = connections["default"].settings_dict.get("EMBEDDED")
    if embedded is None:  # DATABASE_URL: pytest-django makes and drops test_<name> there
        yield
        return
    folder = Path(tempfile.mkdtemp(prefix="cdp-test-"))
    embedded.update(PGDATA=str(folder / "pgdata"), CLEANUP="delete")
    yield
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def make_user(db):
    """Create a user holding one role: make_user("marketer")."""
    from cdpapp.roles import Role
    from cdpapp.services import user_create

    def make(role: str, username: str | None = None, password: str = TEST_PASSWORD):
        return user_create(username=username or f"{role}-user", role=Role(role), password=password)

    return make


@pytest.fixture
def api_client_for(make_user):
    """A DRF client authenticated with a real API token of a user with the given role."""
    from rest_framework.test import APIClient

    from cdpapp.services import api_token_create

    def make(role: str):
        user = make_user(role, username=f"api-{role}")
        _, token = api_token_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
        client.user = user
        return client

    return make


@pytest.fixture
def client_for(client, make_user):
    """A Django test client logged in as a user with the given role."""

    def make(role: str):
        user = make_user(role)
        client.force_login(user)
        client.user = user
        return client

    return make


# Rows that data migrations create (identity types, purposes, the default survivorship rule).
# Transactional tests (live_server, transaction=True) flush every table, so later tests would
# run without them: put them back, with the migrations' own code.
SEEDS = [
    ("profiles.migrations.0005_default_identity_types", "seed"),
    ("privacy.migrations.0002_default_purposes", "seed"),
]


@pytest.fixture(autouse=True)
def _default_rows(request):
    marker = request.node.get_closest_marker("django_db")
    transactional = {"transactional_db", "live_server"} & set(request.fixturenames) or (
        marker is not None and marker.kwargs.get("transaction")
    )
    if not transactional:
        yield
        return
    import importlib

    from django.apps import apps

    request.getfixturevalue("transactional_db")
    for module, function in SEEDS:
        getattr(importlib.import_module(module), function)(apps, None)
    yield
