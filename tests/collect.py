"""Sending Segment messages through the collection service, as the batch endpoint does, for
tests that need real events: collected with a source's write key, then processed."""

import orjson

from profiles.services.collection import Collected, events_collect
from profiles.services.processing import events_process_pending


def send(write_key: str, *messages: dict) -> Collected:
    """Collect `messages` as one batch for the source with `write_key`; what the service returns."""
    return events_collect(
        raw=orjson.dumps({"batch": list(messages)}),
        endpoint="batch",
        write_key=write_key,
        content_type="application/json",
        content_encoding=None,
    )


def send_and_process(write_key: str, *messages: dict) -> int:
    """`send`, then process every pending event; how many events were processed."""
    send(write_key, *messages)
    return events_process_pending()
