"""Fixtures shared by the tests under tests/ (browser, integration)."""

import pytest


@pytest.fixture
def live_server_closes_its_database_connections(monkeypatch):
    """Real clients (Node, Chromium) keep HTTP connections alive, and the live server's thread for
    each one keeps its database connection while it waits; closing it after every request lets
    the test database be dropped at the end of the run."""
    from django.db import connection

    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 0)
