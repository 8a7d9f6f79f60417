"""The segment builder page, driven the way a person does: every edit waits for the server's
re-rendered draft. Shared by the browser tests of the builder."""

import orjson
from playwright.sync_api import expect

from segments.models import Segment


class Builder:
    """Drives the builder page: every edit waits for the server's re-rendered draft."""

    def __init__(self, page):
        # Tall enough that a drag's source and target are both on screen without scrolling.
        page.set_viewport_size({"width": 1400, "height": 1400})
        self.page = page
        self.state = page.locator("#builder-definition")

    def draft(self) -> dict:
        return orjson.loads(self.state.get_attribute("value"))

    def edit(self, action) -> None:
        before = self.state.get_attribute("value")
        action()
        expect(self.state).not_to_have_attribute("value", before)

    def count(self, expected: int) -> None:
        expect(self.page.locator("#preview-count")).to_have_text(str(expected))

    def node(self, kind: str, nth: int = 0):
        return self.page.locator(f'#builder li.node[data-kind="{kind}"]').nth(nth)

    def zone(self, group):
        return group.locator(":scope > ol.children")

    def root(self):
        return self.page.locator("#builder .tree > li")

    def drag(self, source, zone, *, end: bool = True) -> None:
        """A real mouse drag onto a group's list; `end`: drop below its last node."""
        box = zone.bounding_box()
        position = {"x": box["width"] / 2, "y": box["height"] - 3 if end else 3}
        self.edit(lambda: source.drag_to(zone, target_position=position))

    def field(self, node, name: str, value: str) -> None:
        self.edit(lambda: (node.locator(f'[name="{name}"]').fill(value),
                           node.locator(f'[name="{name}"]').press("Tab")))  # fmt: skip

    def choose(self, node, name: str, value: str) -> None:
        self.edit(lambda: node.locator(f'select[name="{name}"]').select_option(value))

    def save_and_reload(self, name: str) -> Segment:
        self.page.get_by_label("Name", exact=True).fill(name)
        self.page.get_by_role("button", name="Save segment").click()
        expect(self.page.get_by_text(f"Segment “{name}” created (version 1).")).to_be_visible()
        segment = Segment.objects.get(name=name)
        assert self.page.url.endswith(f"/segments/{segment.pk}/edit")
        self.page.reload()
        assert self.draft() == segment.definition
        return segment
