"""What the builder shows on each node of a definition: the template renders these, nothing else.

The tree is always rebuilt from the definition JSON (never from the page), with each node's preview
count, its ✓/✗ for an explained profile, which moves it allows, and a refused edit's error and
values on the node it names.
"""

from dataclasses import dataclass, field
from typing import Any

from segments.domain.definition import AGGREGATES, COMPUTED, TRAIT_OPERATORS, DefinitionError
from segments.domain.describe import (
    COMPARISON_LABELS,
    OPERATOR_LABELS,
    SEEN_LABELS,
    SYMBOLS,
    describe,
)
from segments.domain.tree import PALETTE
from segments.forms import scalar_text

OPERATORS = [(op, OPERATOR_LABELS[op]) for op in TRAIT_OPERATORS]
NUMBER_OPERATORS = [
    (op, OPERATOR_LABELS[op])
    for op in ("gte", "gt", "lte", "lt", "equals", "not_equals", "between", "is_set", "not_set")
]
DATE_OPERATORS = [
    (op, OPERATOR_LABELS[op]) for op in ("within_last_days", "before", "after", "is_set", "not_set")
]
COMPARISON_CHOICES = [(op, COMPARISON_LABELS[op]) for op in ("gte", "gt", "eq", "lte", "lt")]
AGGREGATE_CHOICES = [(op, op) for op in AGGREGATES]
AGG_OPERATOR_CHOICES = [(op, SYMBOLS[op]) for op in ("gte", "gt", "eq", "lte", "lt")]
WINDOW_CHOICES = [
    ("ever", "ever"),
    ("last_days", "in the last N days"),
    ("between_days_ago", "between N and M days ago"),
]
SEEN_CHOICES = list(SEEN_LABELS.items())
COMPUTED_CHOICES = [(name, name.replace("_", " ")) for name in COMPUTED]
NO_LIST = ("", "")
# The choices the node editors offer, for the templates.
EDITOR_CHOICES = {
    "operators": OPERATORS,
    "comparisons": COMPARISON_CHOICES,
    "aggregates": AGGREGATE_CHOICES,
    "agg_operators": AGG_OPERATOR_CHOICES,
    "windows": WINDOW_CHOICES,
    "seen_operators": SEEN_CHOICES,
    "computed_names": COMPUTED_CHOICES,
}


@dataclass
class Filter:
    prefix: str
    property: str
    operator: str
    value: str
    low: str
    high: str


@dataclass
class Item:
    node: dict
    kind: str
    label: str
    depth: int
    parent_id: str | None = None
    count: int | None = None
    verdict: bool | None = None
    error: str | None = None
    sentence: str = ""
    can_up: bool = False
    can_down: bool = False
    can_into: bool = False
    can_out: bool = False
    children: list["Item"] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.node["id"]

    @property
    def is_group(self) -> bool:
        return self.kind == "group"


def operand_values(value: Any, operator: str | None) -> dict[str, str]:
    """The editor's text for a comparison value: one box, or two for 'between'."""
    if operator == "between" and isinstance(value, list):
        low, high = ([*value, None, None])[:2]
        return {"value": "", "low": scalar_text(low), "high": scalar_text(high)}
    if isinstance(value, list):
        return {"value": ", ".join(scalar_text(item) for item in value), "low": "", "high": ""}
    return {"value": scalar_text(value), "low": "", "high": ""}


def _filters(items: Any, prefix: str) -> list[Filter]:
    out = []
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, dict):
            continue
        operator = item.get("operator", "equals")
        text = operand_values(item.get("value"), operator)
        out.append(
            Filter(
                f"{prefix}-{index}-",
                str(item.get("property") or ""),
                operator,
                text["value"],
                text["low"],
                text["high"],
            )
        )
    return out


def _window(window: Any) -> dict[str, str]:
    window = window if isinstance(window, dict) else {}
    return {
        "window_kind": window.get("kind", "ever"),
        "window_days": scalar_text(window.get("days", 30)),
        "window_from": scalar_text(window.get("from", 30)),
        "window_to": scalar_text(window.get("to", 60)),
    }


def editor_values(node: dict) -> dict[str, Any]:
    """Everything a node's editor shows, as text, from a node that may not be valid."""
    kind = node.get("type")
    if kind in ("trait", "computed"):
        operator = node.get("operator")
        if kind == "trait":
            choices = OPERATORS
        else:
            choices = (
                DATE_OPERATORS if COMPUTED.get(node.get("name")) == "date" else NUMBER_OPERATORS
            )
        if operator not in dict(choices):
            choices = [*choices, (operator, OPERATOR_LABELS.get(operator, str(operator)))]
        return {**operand_values(node.get("value"), operator), "operator_choices": choices}
    if kind == "event":
        count = node.get("count") if isinstance(node.get("count"), dict) else {}
        agg = node.get("aggregate") if isinstance(node.get("aggregate"), dict) else {}
        return {
            **_window(node.get("window")),
            "count_op": count.get("operator", ""),
            "count_value": scalar_text(count.get("value", 1)),
            "agg_function": agg.get("function", ""),
            "agg_property": str(agg.get("property") or ""),
            "agg_op": agg.get("operator", "gte"),
            "agg_value": scalar_text(agg.get("value", 0)),
            "filters": _filters(node.get("where"), "where"),
        }
    if kind == "sequence":
        first = node.get("first") if isinstance(node.get("first"), dict) else {}
        then = node.get("then") if isinstance(node.get("then"), dict) else {}
        return {
            **_window(node.get("window")),
            "first_event": str(first.get("event") or ""),
            "then_event": str(then.get("event") or ""),
            "first_filters": _filters(first.get("where"), "first-where"),
            "then_filters": _filters(then.get("where"), "then-where"),
            "within_days": scalar_text(node.get("within_days")),
        }
    if kind == "seen":
        return {"value": scalar_text(node.get("value"))}
    return {}


def _sentence(node: dict, segment_names: dict[int, str]) -> str:
    try:
        return describe(node, segment_names=segment_names)
    except (KeyError, TypeError, AttributeError):
        return ""


def build_tree(
    definition: dict,
    *,
    counts: dict[str, int] | None = None,
    verdicts: dict[str, bool] | None = None,
    error: DefinitionError | None = None,
    attempted: dict | None = None,
    segment_names: dict[int, str] | None = None,
    prop_lists: dict[str, tuple[str, str]] | None = None,
) -> Item:
    """The root Item of `definition`; `attempted` (a refused edit's node) is shown in its place.

    `prop_lists` maps an event name to (the id of the datalist of its property keys, the first
    key: what a new property filter starts with).
    """
    counts, verdicts, names = counts or {}, verdicts or {}, segment_names or {}
    lists = prop_lists or {}

    def build(node: dict, depth: int, parent: dict | None, index: int) -> Item:
        shown = attempted if attempted and attempted.get("id") == node["id"] else node
        kind = node["type"]
        siblings = parent["children"] if parent else []
        item = Item(
            node=shown,
            kind=kind,
            label="Group" if kind == "group" else PALETTE.get(kind, kind),
            depth=depth,
            parent_id=parent["id"] if parent else None,
            count=counts.get(node["id"]),
            verdict=verdicts.get(node["id"]),
            error=error.message if error is not None and error.node_id == node["id"] else None,
            sentence=_sentence(node, names),
            can_up=parent is not None and index > 0,
            can_down=parent is not None and index < len(siblings) - 1,
            can_into=parent is not None and index > 0 and siblings[index - 1]["type"] == "group",
            can_out=depth >= 2,
            values=editor_values(shown),
        )
        values = item.values
        if kind == "event":
            values["props_list"], values["filter_default"] = lists.get(shown.get("event"), NO_LIST)
        elif kind == "sequence":
            for step in ("first", "then"):
                list_id, default = lists.get(values[f"{step}_event"], NO_LIST)
                values[f"{step}_props_list"], values[f"{step}_filter_default"] = list_id, default
        elif kind == "segment":
            values["segment_missing"] = shown.get("segment") not in names
        item.children = [
            build(child, depth + 1, node, i) for i, child in enumerate(node.get("children", []))
        ]
        return item

    return build(definition["root"], 0, None, 0)


def event_names_in(definition: dict) -> list[str]:
    """The event names a definition mentions (events and sequence steps), in order."""
    found: list[str] = []

    def walk(node: dict) -> None:
        names = []
        if node["type"] == "event":
            names = [node["event"]]
        elif node["type"] == "sequence":
            names = [node["first"]["event"], node["then"]["event"]]
        found.extend(name for name in names if name not in found)
        for child in node.get("children", []):
            walk(child)

    walk(definition["root"])
    return found


def profile_label(profile) -> str:
    """A person's name or email from their traits ("" when there is neither)."""
    traits = profile.traits if isinstance(profile.traits, dict) else {}
    full = " ".join(str(traits[k]) for k in ("firstName", "lastName") if traits.get(k)).strip()
    return full or str(traits.get("name") or traits.get("email") or "")
