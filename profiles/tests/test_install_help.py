"""The Python example of the install help, copied from the page and run, delivers its events."""

import html
import re
from urllib.parse import urlsplit

import pytest
import segment.analytics as analytics
from segment.analytics import request as segment_request

from profiles.models import Event
from profiles.tests.sources_helpers import make_source


@pytest.fixture
def reset_segment():
    yield
    if analytics.default_client is not None:
        analytics.shutdown()
    analytics.default_client = None
    analytics.write_key = analytics.host = None
    # The library keeps one HTTP session: close its keep-alive socket, whose live-server thread
    # would otherwise hold a database connection past the test.
    segment_request._session.close()


@pytest.mark.django_db(transaction=True)
def test_the_python_example_sends_to_this_host(live_server, client_for, reset_segment):
    web = make_source("Backend", kind="server")
    host, port = urlsplit(live_server.url).hostname, urlsplit(live_server.url).port
    page = client_for("admin").get(
        f"/profiles/sources/{web.pk}/", SERVER_NAME=host, SERVER_PORT=str(port)
    )
    snippet = html.unescape(
        re.search(
            r'<pre id="snippet-python"><code>(.*?)</code>', page.content.decode(), re.S
        ).group(1)
    )
    assert f'analytics.host = "{live_server.url}"' in snippet

    exec(snippet, {})  # noqa: S102 - the code an admin copies from the page

    events = {event.type: event for event in Event.objects.filter(source=web)}
    assert set(events) == {"identify", "track"}
    assert events["track"].name == "Order Completed"
    assert events["track"].properties == {"order_id": "A-1001", "revenue": 42.5}
    assert events["identify"].traits == {"email": "ada@example.com"}
