"""Starter segment definitions for common use cases, offered when creating a segment."""

import copy
from dataclasses import dataclass

from segments.domain.definition import validate


@dataclass(frozen=True)
class Starter:
    key: str
    name: str
    description: str
    definition: dict


def _d(root_id: str, *children: dict, op: str = "and") -> dict:
    return {
        "version": 1,
        "root": {
            "id": root_id,
            "type": "group",
            "op": op,
            "negate": False,
            "children": list(children),
        },
    }


STARTERS: tuple[Starter, ...] = (
    Starter(
        key="high-value-browsers",
        name="High-value browsers without a purchase in 7 days",
        description="Viewed products 3+ times in the last 7 days, ordered nothing in those 7 days, "
        "lifetime value at least 200.",
        definition=_d(
            "hvb",
            {
                "id": "hvb-views",
                "type": "event",
                "event": "Product Viewed",
                "count": {"operator": "gte", "value": 3},
                "window": {"kind": "last_days", "days": 7},
            },
            {
                "id": "hvb-no-order",
                "type": "event",
                "event": "Order Completed",
                "performed": False,
                "window": {"kind": "last_days", "days": 7},
            },
            {
                "id": "hvb-ltv",
                "type": "computed",
                "name": "lifetime_value",
                "operator": "gte",
                "value": 200,
            },
        ),
    ),
    Starter(
        key="cart-abandoners",
        name="Cart abandoners in the last 24 hours",
        description="Added a product in the last day and did not complete an order within a day "
        "of it.",
        definition=_d(
            "cart",
            {
                "id": "cart-seq",
                "type": "sequence",
                "first": {"event": "Product Added"},
                "then": {"event": "Order Completed"},
                "within_days": 1,
                "mode": "not_then",
                "window": {"kind": "last_days", "days": 1},
            },
        ),
    ),
    Starter(
        key="declining-engagement",
        name="Subscribers with declining engagement",
        description="Opened 3+ emails 31 to 60 days ago but at most one in the last 30 days, and "
        "still subscribed to email marketing.",
        definition=_d(
            "decl",
            {
                "id": "decl-before",
                "type": "event",
                "event": "Email Opened",
                "count": {"operator": "gte", "value": 3},
                "window": {"kind": "between_days_ago", "from": 31, "to": 60},
            },
            {
                "id": "decl-now",
                "type": "event",
                "event": "Email Opened",
                "count": {"operator": "lte", "value": 1},
                "window": {"kind": "last_days", "days": 30},
            },
            {
                "id": "decl-consent",
                "type": "consent",
                "purpose": "email_marketing",
                "status": "granted",
            },
        ),
    ),
    Starter(
        key="near-usage-limit",
        name="Customers near their usage limit",
        description="Using 80% or more of their plan's allowance, with a plan set.",
        definition=_d(
            "usage",
            {
                "id": "usage-pct",
                "type": "trait",
                "trait": "usage_pct",
                "operator": "gte",
                "value": 80,
            },
            {"id": "usage-plan", "type": "trait", "trait": "plan", "operator": "is_set"},
        ),
    ),
)


def starter(key: str) -> Starter | None:
    """The starter with `key`, its definition validated and copied (safe to edit)."""
    for item in STARTERS:
        if item.key == key:
            return Starter(
                item.key, item.name, item.description, copy.deepcopy(validate(item.definition))
            )
    return None
