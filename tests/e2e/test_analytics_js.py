"""Analytics.js 2.0 (@segment/analytics-next, from npm, unmodified) in Chromium delivers every
browser call type to the live server.

The install help's website snippet is copied from the source page and pasted into a shop's page,
served by its own small server on another origin, so every call is a cross-origin request (CORS,
with a preflight since the library sends the write key as Basic auth) of a `text/plain` body to
analytics.js's short paths. (Both servers are on this machine's loopback: Chromium refuses a
page from a public address calling into a more private one, which a real shop and CDP are not.)
The snippet imports the library from esm.sh; the machine running the tests reaches no CDN, so
the shop's page maps that URL (an import map) to the library's own browser build from the npm
package, served by the shop. Any request for anywhere else (Segment's CDN for settings or
plugins, say) fails the test.
"""

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from profiles.models import Event, FailedEvent, Source
from profiles.services.sources import source_create
from tests.js_clients import install_snippet, installed

pytestmark = pytest.mark.usefixtures("live_server_closes_its_database_connections")


@pytest.fixture
def source(transactional_db) -> Source:
    source, key = source_create(name="Web shop", kind=Source.Kind.WEBSITE)
    source.key = key
    return source


@pytest.fixture
def library_module() -> str:
    """The package's self-contained browser (UMD) build, as the ES module the snippet imports."""
    umd = installed("@segment/analytics-next") / "dist" / "umd" / "index.js"
    return umd.read_text() + "\nexport const { AnalyticsBrowser } = self.AnalyticsNext;\n"


@pytest.fixture
def shop_server() -> Iterator[dict]:
    """A second web server, the shop's, at `files["url"]`: it answers GET `path` with
    `files[path]`, a pair (content type, text)."""
    files: dict = {}

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self):
            content_type, text = files.get(urlsplit(self.path).path, ("text/plain", "not found"))
            body = text.encode()
            self.send_response(200 if urlsplit(self.path).path in files else 404)
            self.send_header("Content-Type", f"{content_type}; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    files["url"] = f"http://127.0.0.1:{server.server_port}"
    yield files
    server.shutdown()
    server.server_close()


@pytest.fixture
def network(page, live_server, shop_server):
    """What the page sent to the live server, and what it asked of anywhere else.

    Only listened to, never routed: with any `page.route`, Playwright answers the CORS
    preflights itself, and our server's answers would go untested."""
    seen = {"calls": [], "failed": [], "elsewhere": [], "errors": []}

    def record_response(response):
        request = response.request
        if request.url.startswith(live_server.url) and request.method == "POST":
            seen["calls"].append(
                (
                    urlsplit(request.url).path,
                    response.status,
                    request.headers.get("content-type"),
                    request.headers.get("x-retry-count"),
                )
            )

    def record_request(request):
        if not request.url.startswith((live_server.url, shop_server["url"])):
            seen["elsewhere"].append(request.url)

    def record_failure(request):
        if request.url.startswith(live_server.url):
            seen["failed"].append((request.method, request.url, request.failure))

    page.on("request", record_request)
    page.on("response", record_response)
    page.on("requestfailed", record_failure)
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on(
        "console",
        lambda message: seen["errors"].append(message.text) if message.type == "error" else None,
    )
    return seen


@pytest.fixture
def shop(page, live_server, source, client_for, library_module, shop_server, network):
    """Open the shop's checkout page with the install snippet pasted into its <head>, as copied.

    An import map sends the snippet's esm.sh import to the shop's own copy of the npm package."""
    snippet = install_snippet(client_for("admin"), source, live_server.url, "web")
    library_url = re.search(r'from "(https://esm\.sh/[^"]+)"', snippet).group(1)
    import_map = json.dumps({"imports": {library_url: "/vendor/analytics-next.js"}})
    shop_server["/vendor/analytics-next.js"] = ("text/javascript", library_module)
    shop_server["/checkout"] = (
        "text/html",
        '<!doctype html><html><head><meta charset="utf-8"><title>Checkout</title>'
        '<link rel="icon" href="data:,">'
        f'<script type="importmap">{import_map}</script>'
        f"{snippet}</head><body><h1>Checkout</h1></body></html>",
    )

    def open_checkout():
        page.clock.install()  # time flows as usual, until a test fast-forwards it
        page.goto(f"{shop_server['url']}/checkout?step=2")
        # Every delivery failure the library gives up on is emitted as "error".
        page.evaluate(
            """async () => {
                window.deliveryErrors = [];
                const [ajs] = await window.analytics;
                ajs.on("error", (e) => window.deliveryErrors.push(`${e.code}: ${e.reason}`));
            }"""
        )
        return page

    return open_checkout


# At sign-up, as Segment's docs have it: alias the anonymous visitor to the new user id, then
# identify. (Once identified, analytics.js sends the current user id as the alias's userId.)
CALLS = """async ({user, tracks}) => {
    await analytics.alias(user);
    await analytics.identify(user, { email: "ann@example.com", plan: "pro" });
    await analytics.track("Order Completed", {
        order_id: "o-1", revenue: 42.5, products: [{ sku: "A", qty: 2 }],
    });
    await analytics.group("acme", { name: "Acme Ltd", employees: 40 });
    await Promise.all(Array.from({ length: tracks }, (_, n) =>
        analytics.track("Product Viewed", { sku: `SKU-${n}` })));
}"""


def stored(page, network, count: int, timeout: float = 30) -> list[Event]:
    """The source's events once `count` are stored and the browser has seen `count` answers of
    200 (the library retries on its own schedule; a row is committed before its answer reaches
    the browser)."""
    deadline = time.monotonic() + timeout

    def delivered() -> int:
        return sum(1 for call in network["calls"] if call[1] == 200)

    while time.monotonic() < deadline and (Event.objects.count() < count or delivered() < count):
        page.wait_for_timeout(100)
    return list(Event.objects.order_by("received_at"))


def assert_browser_calls_stored_once(
    events: list[Event], source: Source, user: str, shop: str
) -> None:
    by_type = {}
    for event in events:
        by_type.setdefault(event.type, []).append(event)
    assert {kind: len(found) for kind, found in by_type.items() if kind != "track"} == {
        "page": 1,
        "identify": 1,
        "group": 1,
        "alias": 1,
    }
    assert len({event.message_id for event in events}) == len(events)
    assert {event.source_id for event in events} == {source.pk}
    (page,) = by_type["page"]
    anonymous = page.anonymous_id
    assert anonymous
    assert page.user_id is None
    assert page.properties["url"] == f"{shop}/checkout?step=2"
    assert page.properties["path"] == "/checkout"
    assert page.properties["title"] == "Checkout"
    assert page.context["library"]["name"] == "analytics.js"

    (identify,) = by_type["identify"]
    assert (identify.user_id, identify.anonymous_id) == (user, anonymous)
    assert identify.traits == {"email": "ann@example.com", "plan": "pro"}

    order = next(e for e in by_type["track"] if e.name == "Order Completed")
    assert (order.user_id, order.anonymous_id) == (user, anonymous)
    assert order.properties == {
        "order_id": "o-1",
        "revenue": 42.5,
        "products": [{"sku": "A", "qty": 2}],
    }
    assert order.context["page"]["path"] == "/checkout"
    assert order.sent_at is not None

    (group,) = by_type["group"]
    assert (group.group_id, group.user_id) == ("acme", user)
    assert group.traits == {"name": "Acme Ltd", "employees": 40}

    (alias,) = by_type["alias"]
    assert (alias.user_id, alias.previous_id) == (user, anonymous)

    for event in events:
        assert source.key not in str(event.extra)


def test_every_browser_call_type_is_stored_once(shop, shop_server, network, source):
    page = shop()
    page.evaluate(CALLS, {"user": "ann", "tracks": 0})

    events = stored(page, network, 5)
    assert_browser_calls_stored_once(events, source, "ann", shop_server["url"])
    assert len(events) == 5
    # One request per call, to the short paths, a text/plain body, each answered 200 at once.
    sorted_calls = sorted(network["calls"])
    assert sorted_calls == sorted((f"/v1/{path}", 200, "text/plain", None) for path in "paitg")
    assert network["failed"] == []
    assert network["elsewhere"] == []
    assert network["errors"] == []
    assert page.evaluate("window.deliveryErrors") == []
    assert FailedEvent.objects.count() == 0

    # The library's usage metrics (sent every 30 s to the API host's /m) are off in the snippet.
    page.clock.run_for(60_000)
    page.wait_for_timeout(500)
    assert sorted(network["calls"]) == sorted_calls
    assert network["errors"] == []


def test_a_rate_limited_browser_source_loses_nothing(shop, shop_server, network, source):
    """Over its limit, the source answers 429 with Retry-After; the library waits and sends the
    same message again with an X-Retry-Count header, which the preflight must allow."""
    source.rate_limit_per_second = 2
    source.save()
    page = shop()
    page.evaluate(CALLS, {"user": "ann", "tracks": 6})

    events = stored(page, network, 11)
    assert_browser_calls_stored_once(events, source, "ann", shop_server["url"])
    viewed = [e for e in events if e.name == "Product Viewed"]
    assert sorted(e.properties["sku"] for e in viewed) == [f"SKU-{n}" for n in range(6)]
    assert len(events) == 11
    statuses = [status for _, status, _, _ in network["calls"]]
    assert 429 in statuses
    assert statuses.count(200) == 11
    # Delivered on a retry, through the preflight of its X-Retry-Count header.
    assert [call for call in network["calls"] if call[1] == 200 and call[3]]
    assert network["failed"] == []
    assert network["elsewhere"] == []
    assert page.evaluate("window.deliveryErrors") == []
    assert FailedEvent.objects.count() == 0
