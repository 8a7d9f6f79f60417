"""Several processes at once (server, worker, commands) share one embedded PostgreSQL."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

pytestmark = pytest.mark.skipif(
    "EMBEDDED" not in settings.DATABASES["default"], reason="DATABASE_URL is set"
)

SCRIPT = """
import django, os, time
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cdpapp.settings")
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    cursor.execute("SELECT pg_postmaster_start_time()::text, current_database()")
    print(*cursor.fetchone(), sep="|")
time.sleep(float(os.environ["HOLD"]))
"""


def _run_many(pgdata: Path, count: int, hold: float) -> list[subprocess.CompletedProcess]:
    env = {**os.environ, "CDP_PGDATA": str(pgdata), "HOLD": str(hold)}
    env.pop("DATABASE_URL", None)
    procs = [
        subprocess.Popen(  # noqa: S603
            [sys.executable, "-c", SCRIPT],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def test_concurrent_processes_share_one_server_that_stops_after_the_last(tmp_path):
    pgdata = tmp_path / "pgdata"
    results = _run_many(pgdata, count=4, hold=1.5)
    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stderr[-2000:] for r in results]
    answers = {r.stdout.strip() for r in results}
    assert len(answers) == 1, answers  # one server start time, one database
    assert answers.pop().endswith("|cdp")
    for _ in range(50):  # the last process out stops the server
        if not (pgdata / "postmaster.pid").exists():
            break
        time.sleep(0.2)
    assert not (pgdata / "postmaster.pid").exists()
    again = _run_many(pgdata, count=1, hold=0)
    assert again[0].returncode == 0, again[0].stderr[-2000:]
    assert again[0].stdout.strip().endswith("|cdp")
