"""The sources pages and the event debugger, as the browser and htmx ask for them."""

import html
import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from profiles.models import Event, FailedEvent, Source
from profiles.services.sources import source_rotate_key
from profiles.tests.sources_helpers import collect, make_event, make_source

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def htmx(target: str | None = None) -> dict[str, str]:
    return {**HTMX, "HX-Target": target} if target else HTMX


@pytest.fixture
def admin(client_for):
    return client_for("admin")


@pytest.fixture
def web():
    return make_source("Web shop")


def url(name: str, *args) -> str:
    return reverse(f"profiles:{name}", args=args)


def text(response) -> str:
    return response.content.decode()


def is_partial(response) -> bool:
    return "<html" not in text(response)


# --- list and create ---------------------------------------------------------------------------


def test_admin_home_has_a_sources_tile(admin):
    page = text(admin.get(reverse("admin-home")))
    assert f'href="{url("source-list")}"' in page
    assert "<h2>Sources</h2>" in page


def test_list_shows_each_source_with_its_volume(admin, client, web):
    make_source("Till", kind=Source.Kind.POS, enabled=False)
    make_event(web)
    make_event(web)
    collect(client, web.key, {"batch": [{"type": "track", "userId": "u-1"}]})  # one failure

    page = text(admin.get(url("source-list")))

    row = re.search(r"<tr>\s*<td><a[^>]*>Web shop</a>.*?</tr>", page, re.S).group(0)
    assert "Website" in row
    assert "enabled" in row
    assert re.search(r'class="num">2</td>', row)
    assert ">1</a>" in row  # one open failed event, linked to the debugger
    till = re.search(r"<tr>\s*<td><a[^>]*>Till</a>.*?</tr>", page, re.S).group(0)
    assert "disabled" in till
    assert "never" in till


def test_create_shows_the_new_key_once(admin):
    response = admin.post(url("source-list"), {"name": "Mobile app", "kind": "mobile_app"})

    assert response.status_code == 201
    source = Source.objects.get(name="Mobile app")
    key = re.search(r'id="new-write-key">([^<]+)<', text(response)).group(1)
    assert key.startswith("wk_")
    assert source.write_keys.get().prefix == key[:8]
    assert key not in text(admin.get(url("source-list")))


def test_create_refuses_a_duplicate_name_and_an_unknown_kind(admin, web):
    response = admin.post(url("source-list"), {"name": "Web shop", "kind": "rocket"})
    assert response.status_code == 400
    assert "Source with this Name already exists." in text(response)
    assert "Select a valid choice." in text(response)
    assert Source.objects.count() == 1


@pytest.mark.parametrize("role", ["marketer", "analyst"])
def test_other_roles_are_refused_everywhere(client_for, web, role):
    http = client_for(role)
    failed = FailedEvent.objects.create(
        source=web, endpoint="track", code="x", reason="y", received_at=web.created_at
    )
    for path in (url("source-list"), url("source-detail", web.pk), url("source-debugger", web.pk)):
        assert http.get(path).status_code == 403
    for path in (
        url("source-list"),
        url("source-settings", web.pk),
        url("source-rotate-key", web.pk),
        url("source-failed-replay", web.pk, failed.pk),
        url("source-failed-replay-all", web.pk),
    ):
        assert http.post(path, {"name": "x", "kind": "website"}).status_code == 403
    assert Source.objects.count() == 1


# --- one source -------------------------------------------------------------------------------


def test_detail_page_has_settings_plan_keys_and_install_help(admin, web):
    page = text(admin.get(url("source-detail", web.pk)))
    for heading in ("Settings", "Tracking plan", "Write keys", "Install help"):
        assert heading in page
    assert f'<code id="write-key" class="write-key">{web.key}</code>' in page
    # Pointed at this host, for analytics.js, the Python and the Node libraries.
    assert 'apiHost: "testserver/v1", protocol: "http"' in page
    assert 'analytics.host = "http://testserver"' in page
    assert 'host: "http://testserver",' in page
    assert "http://testserver/v1/batch" in page


def test_install_partial_follows_the_current_key(admin, web):
    new_key = source_rotate_key(source=web)
    response = admin.get(url("source-detail", web.pk), headers=htmx("install"))
    assert is_partial(response)
    assert text(response).lstrip().startswith('<section id="install"')
    assert new_key in text(response)
    assert web.key not in text(response)


def test_settings_save_with_htmx_answers_the_partial(admin, web):
    response = admin.post(
        url("source-settings", web.pk),
        {"max_message_bytes": 2048, "max_batch_bytes": 65536, "rate_limit_per_second": 10},
        headers=htmx(),
    )
    assert response.status_code == 200
    assert is_partial(response)
    assert "Settings saved." in text(response)
    assert "badge-off" in text(response)  # the unchecked box disabled the source
    web.refresh_from_db()
    assert (web.enabled, web.max_message_bytes, web.max_batch_bytes, web.rate_limit_per_second) == (
        False,
        2048,
        65536,
        10,
    )


def test_settings_errors_come_back_in_the_partial(admin, web, settings):
    settings.COLLECT_MAX_BODY_BYTES = 1024 * 1024
    response = admin.post(
        url("source-settings", web.pk),
        {
            "enabled": "on",
            "max_message_bytes": 4096,
            "max_batch_bytes": 2 * 1024 * 1024,
            "rate_limit_per_second": 0,
        },
        headers=htmx(),
    )
    assert response.status_code == 200
    assert is_partial(response)
    assert "At most 1048576 bytes" in text(response)
    assert "Between 1 and 100000 requests per second." in text(response)
    web.refresh_from_db()
    assert web.max_batch_bytes == 500 * 1024


def test_settings_without_htmx_redirect_to_the_page(admin, web):
    response = admin.post(
        url("source-settings", web.pk),
        {
            "enabled": "on",
            "max_message_bytes": 4096,
            "max_batch_bytes": 8192,
            "rate_limit_per_second": 5,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == url("source-detail", web.pk)


def test_tracking_plan_is_validated_with_clear_errors(admin, web):
    bad_json = admin.post(
        url("source-tracking-plan", web.pk),
        {"plan": '{"Order Completed": {revenue: "number"}}', "mode": "flag"},
        headers=htmx(),
    )
    assert "Not valid JSON" in text(bad_json)
    assert "line 1, column" in text(bad_json)
    bad_type = admin.post(
        url("source-tracking-plan", web.pk),
        {"plan": '{"Order Completed": {"revenue": "money"}}', "mode": "flag"},
        headers=htmx(),
    )
    assert "unknown type &#x27;money&#x27;" in text(bad_type)
    web.refresh_from_db()
    assert web.tracking_plan == {}

    saved = admin.post(
        url("source-tracking-plan", web.pk),
        {"plan": '{"Order Completed": {"revenue": "number"}}', "mode": "quarantine"},
        headers=htmx(),
    )
    assert "Tracking plan saved." in text(saved)
    web.refresh_from_db()
    assert web.tracking_plan == {"Order Completed": {"revenue": "number"}}
    assert web.tracking_plan_mode == "quarantine"


def test_rotate_shows_the_new_key_and_keeps_the_old_one_working(admin, client, web):
    response = admin.post(url("source-rotate-key", web.pk), {"grace_hours": 2}, headers=htmx())

    assert response["HX-Trigger"] == "source-keys-changed"
    new_key = re.search(r'id="new-write-key">([^<]+)<', text(response)).group(1)
    assert new_key != web.key
    states = re.findall(r'class="badge key-(\w+)"', text(response))
    assert states == ["live", "expiring"]
    body = {"batch": [{"type": "track", "userId": "u", "event": "E"}]}
    assert collect(client, web.key, body).status_code == 200
    assert collect(client, new_key, body).status_code == 200


def test_rotate_refuses_a_negative_grace(admin, web):
    response = admin.post(url("source-rotate-key", web.pk), {"grace_hours": -1}, headers=htmx())
    assert "greater than or equal to 0" in text(response)
    assert web.write_keys.count() == 1


def test_revoke_stops_the_key_at_once(admin, client, web):
    key = web.write_keys.get()
    response = admin.post(url("source-revoke-key", web.pk, key.pk), headers=htmx())
    assert response["HX-Trigger"] == "source-keys-changed"
    assert "revoked: calls with it now get 401" in text(response)
    body = {"batch": [{"type": "track", "userId": "u", "event": "E"}]}
    assert collect(client, web.key, body).status_code == 401
    other = make_source("Other")
    assert admin.post(url("source-revoke-key", other.pk, key.pk)).status_code == 404


# --- the debugger -------------------------------------------------------------------------------


def test_debugger_page_has_live_list_failed_events_and_charts(admin, client, web):
    collect(
        client,
        web.key,
        {
            "batch": [
                {
                    "type": "track",
                    "userId": "u-1",
                    "event": "Order Completed",
                    "properties": {"revenue": 42},
                    "context": {"ip": "1.2.3.4"},
                },
                {"type": "track", "userId": "u-2"},
            ]
        },
    )
    page = text(admin.get(url("source-debugger", web.pk)))

    assert '<script src="/static/plotly/plotly.min.js" defer></script>' in page
    assert "cdn.plot.ly" not in page
    figures = [
        json.loads(html.unescape(found)) for found in re.findall(r'data-figure="([^"]+)"', page)
    ]
    assert [figure["layout"]["title"]["text"] for figure in figures] == [
        "Per hour, last 24 hours",
        "Per day, last 30 days",
    ]
    hourly = {trace["name"]: trace["y"] for trace in figures[0]["data"]}
    assert (sum(hourly["events"]), sum(hourly["failed"]), len(hourly["events"])) == (1, 1, 24)
    assert 'hx-trigger="every 2s"' in page
    assert "Order Completed" in page
    assert "&quot;revenue&quot;: 42" in page  # the full JSON is in the expandable row
    assert "&quot;ip&quot;: &quot;1.2.3.4&quot;" in page
    assert "missing_event" in page
    assert "A track message needs a non-empty string event, got null." in page
    assert "Last 24 h: 1 events, 1 failed" in page


def test_filters_answer_the_live_partial(admin, web):
    make_event(web, type="page", name="Home", user_id=None, anonymous_id="anon-7")
    make_event(web, name="Order Completed", user_id="u-1")
    make_event(web, name="Product Viewed", user_id="u-2")

    by_type = admin.get(url("source-debugger", web.pk) + "?type=page", headers=htmx("live"))
    assert text(by_type).lstrip().startswith('<section id="live"')
    assert "Home" in text(by_type)
    assert "Order Completed" not in text(by_type)
    assert "after=" in text(by_type) and "type=page" in text(by_type)  # the poll keeps the filter

    by_name = admin.get(
        url("source-debugger", web.pk) + "?event=Product+Viewed", headers=htmx("live")
    )
    assert "Product Viewed" in text(by_name) and "Order Completed" not in text(by_name)

    by_user = admin.get(url("source-debugger", web.pk) + "?user=anon-7", headers=htmx("live"))
    assert "Home" in text(by_user) and "Product Viewed" not in text(by_user)


def test_poll_returns_only_new_rows_and_moves_its_cursor(admin, web):
    first = make_event(web, name="First")
    path = url("source-debugger", web.pk)

    nothing = admin.get(f"{path}?after={first.pk}", headers=htmx("event-rows"))
    assert nothing.status_code == 204

    second = make_event(web, name="Second")
    response = admin.get(f"{path}?after={first.pk}", headers=htmx("event-rows"))
    assert response.status_code == 200
    assert f'id="event-{second.pk}"' in text(response)
    assert f'id="event-{first.pk}"' not in text(response)
    assert 'id="live-poller" hx-swap-oob="true"' in text(response)
    assert f"after={second.pk}" in text(response)


def test_failed_poll_returns_new_failures(admin, client, web):
    path = url("source-debugger", web.pk)
    assert admin.get(f"{path}?after_failed=0", headers=htmx("failed-rows")).status_code == 204
    collect(client, web.key, {"batch": [{"type": "identify"}]})
    response = admin.get(f"{path}?after_failed=0", headers=htmx("failed-rows"))
    failed = FailedEvent.objects.get()
    assert f'id="failed-{failed.pk}"' in text(response)
    assert "Message needs a userId or an anonymousId." in text(response)
    assert f"after_failed={failed.pk}" in text(response)


def test_volume_partial(admin, web):
    make_event(web)
    response = admin.get(url("source-debugger", web.pk), headers=htmx("volume"))
    assert text(response).lstrip().startswith('<section id="volume"')
    assert "Last 24 h: 1 events, 0 failed" in text(response)


def failed_of(client, source, message) -> FailedEvent:
    collect(client, source.key, {"batch": [message]})
    return FailedEvent.objects.get(source=source, status="failed")


def test_replay_from_the_editor_stores_the_event(admin, client, web):
    failed = failed_of(client, web, {"type": "track", "userId": "u-1", "messageId": "m-9"})
    payload = '{"type": "track", "userId": "u-1", "messageId": "m-9", "event": "Fixed"}'

    response = admin.post(
        url("source-failed-replay", web.pk, failed.pk), {"payload": payload}, headers=htmx()
    )

    assert is_partial(response)
    assert (
        text(response)
        .lstrip()
        .startswith(f'<details class="failed-row status-replayed" id="failed-{failed.pk}"')
    )
    assert "Replayed" in text(response)
    assert "admin-user" in text(response)
    assert Event.objects.get(source=web).name == "Fixed"


def test_replay_of_broken_json_keeps_the_text_and_says_where(admin, client, web):
    failed = failed_of(client, web, {"type": "track", "userId": "u-1"})
    response = admin.post(
        url("source-failed-replay", web.pk, failed.pk),
        {"payload": '{"type": "track", "userId": }'},
        headers=htmx(),
    )
    assert "Not valid JSON" in text(response)
    assert "{&quot;type&quot;: &quot;track&quot;, &quot;userId&quot;: }" in text(response)
    failed.refresh_from_db()
    assert failed.status == "failed"


def test_replay_still_invalid_shows_the_new_reason(admin, client, web):
    failed = failed_of(client, web, {"type": "track", "userId": "u-1"})
    response = admin.post(
        url("source-failed-replay", web.pk, failed.pk),
        {"payload": '{"type": "track", "event": "Fixed"}'},
        headers=htmx(),
    )
    assert "Still failing: Message needs a userId or an anonymousId." in text(response)
    assert "missing_identity" in text(response)
    assert not Event.objects.exists()


def test_discard_and_replay_all(admin, client, web):
    one = failed_of(client, web, {"type": "track", "userId": "u-1"})
    response = admin.post(url("source-failed-discard", web.pk, one.pk), headers=htmx())
    assert "Discarded" in text(response)
    assert "status-discarded" in text(response)

    collect(
        client,
        web.key,
        {"batch": [{"type": "track", "userId": "u-2"}, {"type": "track", "userId": "u-3"}]},
    )
    response = admin.post(url("source-failed-replay-all", web.pk), headers=htmx())
    assert text(response).lstrip().startswith('<section id="failed"')
    assert "Replay all: 0 replayed, 2 still failing." in text(response)


def test_replay_without_htmx_redirects_with_a_message(admin, client, web):
    failed = failed_of(client, web, {"type": "track", "userId": "u-1"})
    response = admin.post(
        url("source-failed-replay", web.pk, failed.pk),
        {"payload": '{"type": "track", "userId": "u-1", "event": "E"}'},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == url("source-debugger", web.pk)
    assert "Replayed: the event is stored." in text(response)


def test_a_failed_event_of_another_source_is_404(admin, client, web):
    failed = failed_of(client, web, {"type": "track", "userId": "u-1"})
    other = make_source("Other")
    response = admin.post(url("source-failed-replay", other.pk, failed.pk), {"payload": "{}"})
    assert response.status_code == 404


def test_old_events_do_not_show_in_the_24h_total(admin, web):
    make_event(web, received_at=timezone.now() - timedelta(days=2))
    page = text(admin.get(url("source-debugger", web.pk), headers=htmx("volume")))
    assert "Last 24 h: 0 events, 0 failed · last 30 days: 1 events" in page
