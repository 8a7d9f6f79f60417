from datetime import timedelta

import pytest
from django.utils import timezone

from cdpapp.models import WorkerHeartbeat
from cdpapp.tasks import worker_heartbeat

pytestmark = pytest.mark.django_db


def test_unhealthy_without_a_worker_heartbeat(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["worker"] == {"alive": False, "last_heartbeat_age_seconds": None}


def test_healthy_after_the_heartbeat_task_ran(client):
    worker_heartbeat()
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["worker"]["alive"] is True
    assert body["worker"]["last_heartbeat_age_seconds"] < 5
    assert body["queue_depth"] == 0


def test_stale_heartbeat_is_unhealthy(client):
    WorkerHeartbeat.objects.create(cluster="cdp", beat_at=timezone.now() - timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["worker"]["alive"] is False


def test_queue_depth_counts_waiting_tasks(client):
    from django_q.tasks import async_task

    worker_heartbeat()
    async_task("cdpapp.tasks.worker_heartbeat")
    async_task("cdpapp.tasks.worker_heartbeat")
    assert client.get("/healthz").json()["queue_depth"] == 2


def test_the_heartbeat_is_scheduled_by_migration():
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="cdpapp.tasks.worker_heartbeat")
    assert schedule.schedule_type == Schedule.MINUTES
    assert schedule.minutes == 1


def test_processor_lag_and_backlog_are_reported_but_do_not_decide_health(client):
    from profiles.services.processing import events_process_pending
    from profiles.services.sources import source_create
    from tests.collect import send

    worker_heartbeat()
    _, key = source_create(name="Web", kind="website")
    send(key, {"type": "track", "anonymousId": "a1", "event": "Viewed"})
    body = client.get("/healthz").json()
    assert body["processor"]["backlog"] == 1
    assert body["processor"]["oldest_waiting_seconds"] >= 0  # clock time, not the transaction
    assert body["processor"]["lag_p50_seconds"] is None
    assert body["status"] == "ok"
    events_process_pending()
    processor = client.get("/healthz").json()["processor"]
    assert (processor["backlog"], processor["lag_events"]) == (0, 1)
    assert processor["oldest_waiting_seconds"] is None
    assert isinstance(processor["lag_p95_seconds"], float)


def test_the_favicon_is_served_to_anyone(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("/favicon.svg")
