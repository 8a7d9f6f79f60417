"""The processor takes waiting events in the order they arrived."""

from datetime import timedelta

import pytest
from django.utils import timezone

from profiles.models import Event
from profiles.services.processing import events_process_batch
from profiles.services.sources import source_create
from tests.collect import send

pytestmark = pytest.mark.django_db


def test_the_oldest_arrival_is_processed_first():
    _, key = source_create(name="Web", kind="website")
    send(key, {"type": "track", "anonymousId": "late", "event": "Second"})
    send(key, {"type": "track", "anonymousId": "early", "event": "First"})
    # The second request was received first (a retried delivery, a slow web process).
    Event.objects.filter(name="First").update(received_at=timezone.now() - timedelta(minutes=1))
    assert events_process_batch(limit=1).events == 1
    assert Event.objects.get(name="First").processed_at is not None
    assert Event.objects.get(name="Second").processed_at is None
    assert events_process_batch(limit=1).events == 1
    assert Event.objects.filter(processed_at__isnull=True).count() == 0
