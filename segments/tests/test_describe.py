"""Plain-language sentences for nodes (the read-only tree on the segment page)."""

import pytest

from segments.domain.definition import validate
from segments.domain.describe import describe
from segments.domain.templates import starter


def node(**fields):
    definition = {"version": 1, "root": {"id": "r", "type": "group", "children": [
        {"id": "n", **fields}]}}  # fmt: skip
    return validate(definition)["root"]["children"][0]


@pytest.mark.parametrize(
    ("fields", "sentence"),
    [
        ({"type": "trait", "trait": "plan", "operator": "is_set"}, "trait plan is set"),
        ({"type": "trait", "trait": "plan", "operator": "in", "value": ["pro", "team"]},
         "trait plan is one of pro, team"),
        ({"type": "trait", "trait": "age", "operator": "between", "value": [18, 30]},
         "trait age is between 18 and 30"),
        ({"type": "trait", "trait": "city", "operator": "equals", "value": "Oslo", "negate": True},
         "NOT trait city equals “Oslo”"),
        ({"type": "computed", "name": "last_order_at", "operator": "within_last_days", "value": 1},
         "last_order_at is within the last 1 day"),
        ({"type": "event", "event": "Order Completed", "window": {"kind": "last_days", "days": 30},
          "aggregate": {"function": "sum", "property": "revenue", "operator": "gte", "value": 200},
          "where": [{"property": "currency", "operator": "equals", "value": "EUR"}]},
         "performed “Order Completed” in the last 30 days where currency equals “EUR”, "
         "with sum of revenue ≥ 200"),
        ({"type": "event", "event": "Email Opened", "count": {"operator": "lte", "value": 1},
          "window": {"kind": "between_days_ago", "from": 31, "to": 60}},
         "performed “Email Opened” at most 1 time between 31 and 60 days ago"),
        ({"type": "event", "event": "Order Completed", "performed": False},
         "did not perform “Order Completed” ever"),
        ({"type": "seen", "which": "first_seen", "operator": "before", "value": "2024-01-01"},
         "first seen before 2024-01-01"),
        ({"type": "seen", "which": "last_seen", "operator": "not_within_last_days", "value": 90},
         "last seen not within the last 90 days"),
        ({"type": "consent", "purpose": "sms", "status": "denied"}, "consent for sms is denied"),
        ({"type": "segment", "segment": 7, "member": False}, "is not in “segment #7”"),
    ],
)  # fmt: skip
def test_each_condition_reads_as_a_sentence(fields, sentence):
    assert describe(node(**fields)) == sentence


def test_segment_names_and_sequences():
    assert describe(node(type="segment", segment=7), segment_names={7: "VIPs"}) == "is in “VIPs”"
    cart = starter("cart-abandoners").definition["root"]["children"][0]
    assert describe(cart) == (
        "did “Product Added” and not then “Order Completed” within 1 day, in the last 1 day"
    )
    assert describe({"type": "group", "op": "or", "negate": True}) == "NOT any of"
