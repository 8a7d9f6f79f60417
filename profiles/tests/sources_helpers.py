"""Helpers shared by the sources, debugger and failed-event tests (plain functions, no fixtures)."""

import base64
import itertools
from datetime import datetime
from typing import Any

import orjson
from django.utils import timezone

from profiles.models import Event, Source
from profiles.services.sources import source_create

_ids = itertools.count(1)


def make_source(name: str = "Web shop", kind: str = Source.Kind.WEBSITE, **options) -> Source:
    """A source whose first write key is kept on it as `source.key`."""
    source, key = source_create(name=name, kind=kind, **options)
    source.key = key
    return source


def basic(key: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:".encode()).decode()


def collect(client, key: str, body: Any, endpoint: str = "batch"):
    """POST to the collection API as an SDK would, with the write key as Basic-auth user."""
    return client.post(
        f"/v1/{endpoint}",
        data=orjson.dumps(body),
        content_type="application/json",
        headers={"Authorization": basic(key)},
    )


def make_event(source: Source, *, received_at: datetime | None = None, **fields) -> Event:
    """An event stored directly, for reads that need a chosen arrival time."""
    at = received_at or timezone.now()
    values = {
        "message_id": f"m-{next(_ids)}",
        "type": "track",
        "name": "Order Completed",
        "user_id": "u-1",
        "timestamp": at,
        "received_at": at,
        **fields,
    }
    return Event.objects.create(source=source, **values)
