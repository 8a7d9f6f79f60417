"""Running our own commands as separate processes on the test database, as a person or a
deployment would (`python manage.py ...`), for tests that need real processes."""

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

MANAGE = Path(settings.BASE_DIR) / "manage.py"


def database_url() -> str:
    """The URL of the database this test runs on (the throwaway embedded server's socket, or
    the DATABASE_URL server), so that another process works on the same data."""
    from django.db import connection

    connection.ensure_connection()
    params = connection.get_connection_params()
    user = quote(params.get("user") or "", safe="")
    password = params.get("password")
    auth = f"{user}:{quote(password, safe='')}@" if password else f"{user}@"
    host = quote(str(params.get("host") or "localhost"), safe="")
    port = params.get("port") or 5432
    return f"postgres://{auth}{host}:{port}/{params['dbname']}"


def command_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": database_url(), **extra}


def manage(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """`python manage.py ARGS` on the test database; its output as text."""
    return subprocess.run(  # noqa: S603
        [sys.executable, str(MANAGE), *args],
        cwd=settings.BASE_DIR,
        env=command_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
