"""The segment builder in a real browser: build a nested segment by dragging (native HTML5 drag and
drop, real mouse), and again with the keyboard only; both save the same tree."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from profiles.services.sources import source_create
from segments.domain.tree import shape
from segments.models import Segment
from tests.collect import send_and_process
from tests.e2e.builder_page import Builder

# A live server needs committed data; the root conftest puts back the identity types that
# processing events needs after each flush.
pytestmark = pytest.mark.django_db(transaction=True)

# Both paths must save exactly this tree (ids aside).
EXPECTED = {
    "op": "and",
    "negate": False,
    "children": [
        {
            "type": "event",
            "event": "Product Viewed",
            "performed": True,
            "window": {"kind": "last_days", "days": 7},
            "where": [],
            "count": {"operator": "gte", "value": 3},
        },
        {
            "op": "or",
            "negate": False,
            "children": [
                {"type": "consent", "purpose": "email_marketing", "status": "granted"},
                {"type": "trait", "trait": "plan", "operator": "is_set", "value": None},
            ],
        },
        {
            "type": "event",
            "event": "Order Completed",
            "performed": False,
            "window": {"kind": "last_days", "days": 7},
            "where": [],
        },
    ],
}

# The tree as the page draws it: [kind, op, children] read from the DOM, not from the JSON.
DOM_SHAPE_JS = """() => {
  const walk = (li) => {
    const zone = li.querySelector(':scope > ol.children');
    return {kind: li.dataset.kind,
            op: zone ? (li.classList.contains('op-or') ? 'or' : 'and') : null,
            children: zone ? [...zone.children].filter(c => c.dataset.nodeId).map(walk) : []};
  };
  return walk(document.querySelector('#builder .tree > li'));
}"""
EXPECTED_DOM = {
    "kind": "group",
    "op": "and",
    "children": [
        {"kind": "event", "op": None, "children": []},
        {
            "kind": "group",
            "op": "or",
            "children": [
                {"kind": "consent", "op": None, "children": []},
                {"kind": "trait", "op": None, "children": []},
            ],
        },
        {"kind": "event", "op": None, "children": []},
    ],
}


@pytest.fixture
def shop(db):
    """Five people: ann (3 views, email consent, a plan) is the one the finished segment keeps,
    and eve (3 views, a plan, an order 2 days ago) is in until the last condition."""
    _, key = source_create(name="Web", kind="website")
    now = timezone.now()
    at = now.isoformat()
    consent = {"consent": {"categoryPreferences": {"email_marketing": True}}}

    def views(user, n):
        return [
            {"type": "track", "userId": user, "event": "Product Viewed", "timestamp": at}
            for _ in range(n)
        ]

    def order(user, days_ago):
        timestamp = (now - timedelta(days=days_ago)).isoformat()
        return {"type": "track", "userId": user, "event": "Order Completed", "timestamp": timestamp}

    send_and_process(
        key,
        {"type": "identify", "userId": "ann", "traits": {"plan": "pro"}, "context": consent,
         "timestamp": at},
        *views("ann", 3),
        *views("bob", 3),
        order("bob", 1),
        {"type": "identify", "userId": "cat", "context": consent, "timestamp": at},
        *views("cat", 1),
        *views("dan", 4),
        {"type": "identify", "userId": "eve", "traits": {"plan": "basic"}, "timestamp": at},
        *views("eve", 3),
        order("eve", 2),
    )  # fmt: skip


def saved_as_expected(builder: Builder, name: str) -> Segment:
    """Save, reload, and check the stored tree and the drawn one are EXPECTED."""
    segment = builder.save_and_reload(name)
    assert shape(segment.definition["root"]) == EXPECTED
    assert builder.page.evaluate(DOM_SHAPE_JS) == EXPECTED_DOM
    return segment


def finish_events(builder: Builder) -> None:
    """Make the first event 'Product Viewed ≥ 3 times in 7 days' (counts as it goes)."""
    viewed = builder.node("event", 0)
    builder.field(viewed, "event", "Product Viewed")
    builder.count(5)
    builder.choose(viewed, "count_op", "gte")
    builder.count(5)  # at least once
    builder.field(viewed, "count_value", "3")
    builder.count(4)  # cat viewed once
    builder.field(viewed, "window_days", "7")
    builder.count(4)


def test_build_a_nested_segment_by_dragging(page, live_server, login, screenshot, shop):
    login("marketer")
    builder = Builder(page)
    page.goto(f"{live_server.url}/segments/new")
    builder.count(5)  # an empty AND group: everyone
    palette = page.locator(".palette")

    def item(kind):
        return palette.locator(f'[data-palette-kind="{kind}"] .palette-label')

    builder.drag(item("event"), builder.zone(builder.root()))
    builder.count(2)  # new events start as "Order Completed in the last 30 days": bob, eve
    finish_events(builder)

    builder.drag(item("group"), builder.zone(builder.root()))
    group = builder.node("group", 1)
    builder.drag(item("consent"), builder.zone(group))
    builder.count(1)  # ann is the only one with 3+ views and email consent
    builder.drag(item("trait"), builder.zone(builder.root()))
    builder.count(1)
    assert [c["type"] for c in builder.draft()["root"]["children"]] == ["event", "group", "trait"]
    # A condition dragged from the top group into the nested group, below the consent.
    builder.drag(builder.node("trait").locator(".grip"), builder.zone(group))
    assert [c["type"] for c in builder.draft()["root"]["children"]] == ["event", "group"]
    builder.count(1)
    builder.edit(lambda: group.get_by_role("button", name="ANY (OR)").click())
    builder.count(2)  # consent or a plan: ann and eve

    # A second event dropped above the group, then dragged below it.
    builder.drag(item("event"), builder.zone(builder.root()), end=False)
    assert [c["type"] for c in builder.draft()["root"]["children"]] == ["event", "event", "group"]
    builder.count(1)  # eve ordered in the last 30 days
    builder.drag(builder.node("event", 0).locator(".grip"), builder.zone(builder.root()))
    assert builder.draft()["root"]["children"][2]["event"] == "Order Completed"
    ordered = builder.node("event", 1)
    builder.choose(ordered, "performed", "0")
    builder.count(1)  # ann: no order
    builder.field(ordered, "window_days", "7")
    builder.count(1)

    # The explanation marks every node.
    page.get_by_label("Profile id").fill(str(_profile_id("eve")))
    builder.page.get_by_role("button", name="Explain").click()
    expect(page.locator(".verdict")).to_contain_text("is out ✗")
    expect(builder.node("event", 1).locator(".verdict-mark")).to_have_text("✗")
    expect(group.locator(".verdict-mark").first).to_have_text("✓")
    screenshot("segment-builder-dragged")

    segment = saved_as_expected(builder, "Engaged browsers")
    assert segment.owner.username == "marketer-user"
    builder.count(1)
    screenshot("segment-builder-saved")


def _profile_id(user_id: str) -> int:
    from profiles.models import Profile

    return Profile.objects.get(identities__value=user_id).pk


def test_build_the_same_segment_with_the_keyboard(page, live_server, login, screenshot, shop):
    login("marketer")
    builder = Builder(page)
    page.goto(f"{live_server.url}/segments/new")
    keyboard = page.keyboard

    def press(button):
        button.focus()
        builder.edit(lambda: keyboard.press("Enter"))

    def add(label):
        press(page.get_by_role("button", name=f"Add {label} to the top group"))

    add("Event")
    builder.count(2)
    finish_events(builder)
    add("Event")  # Order Completed
    add("Group (AND / OR)")
    add("Consent")
    assert [c["type"] for c in builder.draft()["root"]["children"]] == [
        "event", "event", "group", "consent",
    ]  # fmt: skip
    consent = builder.node("consent")
    press(consent.get_by_role("button", name="Move into the group above"))
    group = builder.node("group", 1)
    assert [c["type"] for c in builder.draft()["root"]["children"][2]["children"]] == ["consent"]
    builder.count(0)  # ordered in 30 days and email consent: nobody

    add("Trait")
    trait = builder.node("trait")
    press(trait.get_by_role("button", name="Move into the group above"))
    press(trait.get_by_role("button", name="Move out of the group"))
    assert [c["type"] for c in builder.draft()["root"]["children"]] == [
        "event", "event", "group", "trait",
    ]  # fmt: skip
    press(trait.get_by_role("button", name="Move into the group above"))

    # Tab from the second event's NOT button to its "Move down" button, then Enter.
    ordered = builder.node("event", 1)
    ordered.get_by_role("button", name="NOT").focus()
    keyboard.press("Tab")
    keyboard.press("Tab")
    expect(ordered.get_by_role("button", name="Move down")).to_be_focused()
    builder.edit(lambda: keyboard.press("Enter"))
    assert [c["type"] for c in builder.draft()["root"]["children"]] == ["event", "group", "event"]
    # The button is now disabled (last in its group): focus stays on the moved node.
    moved_id = builder.draft()["root"]["children"][2]["id"]
    expect(page.locator(f"#node-{moved_id}")).to_be_focused()

    add("Computed trait")  # added by mistake, removed from the keyboard
    press(builder.node("computed").get_by_role("button", name="Remove"))
    expect(builder.node("computed")).to_have_count(0)
    expect(builder.root()).to_be_focused()  # focus goes to the group it was in

    press(group.get_by_role("button", name="ANY (OR)"))
    ordered = builder.node("event", 1)
    builder.choose(ordered, "performed", "0")
    builder.field(ordered, "window_days", "7")
    builder.count(1)
    screenshot("segment-builder-keyboard")

    saved_as_expected(builder, "Engaged browsers (keyboard)")


def test_an_invalid_value_is_shown_on_its_node(page, live_server, login, screenshot, shop):
    login("marketer")
    builder = Builder(page)
    page.goto(f"{live_server.url}/segments/new?template=near-usage-limit")
    usage = builder.node("trait", 0)
    usage.locator('[name="value"]').fill("lots")
    usage.locator('[name="value"]').press("Tab")
    expect(usage.locator(".node-error")).to_have_text("the value must be a number, got 'lots'.")
    expect(usage.locator('[name="value"]')).to_have_value("lots")
    assert builder.draft()["root"]["children"][0]["value"] == 80  # the draft is unchanged
    screenshot("segment-builder-error")
    builder.field(usage, "value", "90")
    expect(page.locator(".node-error")).to_have_count(0)


def test_list_detail_refresh_and_overlap(page, live_server, login, screenshot, shop):
    from segments.services import segment_create

    viewers = segment_create(
        name="Viewers",
        definition={"version": 1, "root": {"id": "r", "type": "group", "op": "and", "children": [
            {"id": "v", "type": "event", "event": "Product Viewed",
             "count": {"operator": "gte", "value": 3}}]}},
    )  # fmt: skip
    segment_create(
        name="Email subscribers",
        definition={"version": 1, "root": {"id": "r", "type": "group", "op": "and", "children": [
            {"id": "c", "type": "consent", "purpose": "email_marketing"}]}},
        description="Granted email_marketing consent.",
    )  # fmt: skip
    login("marketer")
    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(f"{live_server.url}/segments/")
    rows = page.get_by_role("table", name="Segments").get_by_role("row")
    expect(rows).to_have_count(3)
    for name in ("Email subscribers", "Viewers"):
        page.get_by_role("link", name=name).click()
        page.get_by_role("button", name="Refresh now").click()
        expect(page.get_by_role("status")).to_contain_text("Refreshed:")
        page.go_back()
        page.go_back()
    page.goto(f"{live_server.url}/segments/{viewers.pk}/")
    expect(page.locator("#segment-size")).to_have_text("4")
    expect(page.get_by_role("table", name="Members").get_by_role("row")).to_have_count(5)
    expect(page.locator("#size-chart .main-svg").first).to_be_visible()  # drawn by plotly.js
    screenshot("segment-detail")

    page.goto(f"{live_server.url}/segments/")
    expect(page.get_by_role("row", name="Viewers")).to_contain_text("Ready")
    screenshot("segment-list")

    page.get_by_role("link", name="Overlap").click()
    page.get_by_label("Viewers").check()
    page.get_by_label("Email subscribers").check()
    page.get_by_role("button", name="Compare").click()
    expect(page.locator("#overlap-all")).to_have_text("1")  # ann
    expect(page.locator("#overlap-chart .main-svg").first).to_be_visible()
    screenshot("segment-overlap")


def test_an_analyst_reads_the_tree_and_asks_why(page, live_server, login, screenshot, shop):
    from segments.services import segment_create

    segment = segment_create(
        name="Engaged browsers",
        definition={"version": 1, "root": {"id": "r", "type": "group", "op": "and", "children": [
            {"id": "v", "type": "event", "event": "Product Viewed",
             "count": {"operator": "gte", "value": 3}, "window": {"kind": "last_days", "days": 7}},
            {"id": "g", "type": "group", "op": "or", "children": [
                {"id": "c", "type": "consent", "purpose": "email_marketing"},
                {"id": "p", "type": "trait", "trait": "plan", "operator": "is_set"}]}]}},
    )  # fmt: skip
    login("analyst")
    page.goto(f"{live_server.url}/segments/{segment.pk}/")
    expect(page.get_by_role("link", name="Edit")).to_have_count(0)
    expect(page.get_by_role("button", name="Refresh now")).to_have_count(0)
    tree = page.get_by_role("list", name="Segment definition")
    expect(tree).to_contain_text("performed “Product Viewed” at least 3 times in the last 7 days")
    expect(tree).to_contain_text("any of (OR)")
    page.get_by_label("Profile id").fill(str(_profile_id("dan")))
    page.get_by_role("button", name="Explain").click()
    expect(page.locator(".verdict")).to_contain_text("is out ✗")
    expect(page.locator("#node-v .verdict-mark").first).to_have_text("✓")
    expect(page.locator("#node-g .verdict-mark").first).to_have_text("✗")
    screenshot("segment-detail-analyst")
