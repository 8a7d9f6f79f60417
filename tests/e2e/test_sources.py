"""An admin sets up a source, sends data with its key and debugs it live, fixing a bad message."""

import json

import requests
from playwright.sync_api import expect

BAD_MESSAGE = {"type": "track", "userId": "u-3", "messageId": "bad-1", "properties": {"sku": "X"}}


def send_batch(live_server, key: str, *messages: dict) -> dict:
    response = requests.post(
        f"{live_server.url}/v1/batch", json={"batch": list(messages)}, auth=(key, ""), timeout=10
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_admin_creates_a_source_and_debugs_its_events_live(page, live_server, login, screenshot):
    login("admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Sources").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sources")
    page.get_by_label("Name").fill("Web shop")
    page.get_by_label("Kind").select_option("website")
    page.get_by_role("button", name="Create source").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Source “Web shop” created")
    shown_once = page.locator("#new-write-key").inner_text()
    assert shown_once.startswith("wk_")
    screenshot("source-created")

    page.get_by_role("link", name="Settings and install help →").click()
    key = page.locator("#write-key").inner_text()  # copied from the install help
    assert key == shown_once
    expect(page.locator("#snippet-web")).to_contain_text(f'writeKey: "{key}"')
    page.get_by_text("Python", exact=True).click()
    expect(page.locator("#snippet-python")).to_be_visible()
    expect(page.locator("#snippet-python")).to_contain_text(f'analytics.host = "{live_server.url}"')
    expect(page.locator("#snippet-web")).to_be_hidden()

    plan = page.get_by_label("Tracking plan (JSON)")
    plan.fill('{"Order Completed": {"revenue": number}}')
    page.get_by_role("button", name="Save tracking plan").click()
    expect(page.locator("#tracking-plan [role=alert]")).to_contain_text("Not valid JSON")
    expect(page.locator("#tracking-plan [role=alert]")).to_contain_text("line 1, column")
    screenshot("source-plan-error")
    plan.fill('{"Order Completed": {"revenue": "number", "order_id": "string"}}')
    page.get_by_role("button", name="Save tracking plan").click()
    expect(page.locator("#tracking-plan")).to_contain_text("Tracking plan saved.")
    screenshot("source-detail")

    page.get_by_role("link", name="Event debugger →").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Event debugger: Web shop")
    expect(page.get_by_text("Waiting for events")).to_be_visible()
    # Drawn by plotly.js from our static files, deferred: parsing 4 MB may take a while.
    charts = page.locator("#volume .js-plotly-plot")
    expect(charts).to_have_count(2, timeout=30_000)
    page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

    result = send_batch(
        live_server,
        key,
        {"type": "identify", "userId": "u-1", "traits": {"email": "ada@example.com"}},
        {
            "type": "track",
            "userId": "u-2",
            "event": "Order Completed",
            "properties": {"order_id": "A-1", "revenue": 42.5},
            "context": {"page": {"path": "/checkout"}},
        },
        BAD_MESSAGE,
    )
    assert (result["accepted"], result["failed"]) == (2, 1)

    rows = page.locator("#event-rows > details")
    expect(rows).to_have_count(2, timeout=10_000)
    expect(rows.first).to_contain_text("Order Completed")
    failed = page.locator("#failed-rows > details")
    expect(failed).to_have_count(1, timeout=10_000)
    expect(failed.first).to_contain_text("missing_event")
    expect(failed.first).to_contain_text(
        "A track message needs a non-empty string event, got null."
    )

    rows.first.locator("summary").click()
    expect(rows.first.locator("pre")).to_contain_text('"revenue": 42.5')
    expect(rows.first.locator("pre")).to_contain_text('"path": "/checkout"')
    # The chart redraws when events arrive, without reloading the page.
    expect(page.locator("#volume")).to_contain_text("Last 24 h: 2 events, 1 failed")
    expect(charts).to_have_count(2, timeout=10_000)
    screenshot("debugger-live")

    page.get_by_label("userId or anonymousId").fill("u-1")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("identify")
    page.get_by_label("userId or anonymousId").fill("")
    expect(rows).to_have_count(2)

    failed.first.locator("summary").click()
    editor = failed.first.get_by_label("Message (JSON): fix it, then replay")
    assert json.loads(editor.input_value()) == BAD_MESSAGE
    editor.fill('{"type": "track", "userId": "u-3", "messageId": "bad-1"}')  # still no event
    failed.first.get_by_role("button", name="Replay").click()
    expect(page.locator("#failed-rows [role=alert]")).to_contain_text(
        "Still failing: A track message needs a non-empty string event"
    )
    fixed = {**BAD_MESSAGE, "event": "Checkout Fixed"}
    page.locator("#failed-rows textarea").fill(json.dumps(fixed, indent=2))
    page.locator("#failed-rows").get_by_role("button", name="Replay").click()
    expect(page.locator("#failed-rows")).to_contain_text("Replayed")

    expect(rows).to_have_count(3, timeout=10_000)
    expect(rows.first).to_contain_text("Checkout Fixed")
    expect(rows.first).to_contain_text("u-3")
    expect(rows.first).to_contain_text("1 plan violation")  # flagged, kept: not in the plan
    assert page.evaluate("window.sameDocument") is True
    screenshot("debugger-replayed")

    page.get_by_role("link", name="Sources").click()
    row = page.get_by_role("row", name="Web shop")
    expect(row).to_contain_text("Website")
    expect(row.locator("td.num").first).to_have_text("3")  # identify, order, the replayed one
    expect(row.locator("td.num").nth(1)).to_have_text("0")  # nothing left to fix
    screenshot("sources-list")
