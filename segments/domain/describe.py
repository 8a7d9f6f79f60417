"""Plain-language sentences for definition nodes, for read-only trees and version history. Pure."""

from typing import Any

OPERATOR_LABELS = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains",
    "starts_with": "starts with",
    "in": "is one of",
    "gt": ">",
    "gte": "≥",
    "lt": "<",
    "lte": "≤",
    "between": "is between",
    "is_set": "is set",
    "not_set": "is not set",
    "before": "is before",
    "after": "is after",
    "within_last_days": "is within the last N days",
}
COMPARISON_LABELS = {
    "eq": "exactly",
    "gt": "more than",
    "gte": "at least",
    "lt": "fewer than",
    "lte": "at most",
}
SYMBOLS = {"eq": "=", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
SEEN_LABELS = {
    "within_last_days": "within the last N days",
    "not_within_last_days": "not within the last N days",
    "before": "before",
    "after": "after",
}


def value_text(value: Any) -> str:
    """A value as a person would write it: text as is, lists comma-separated."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value_text(item) for item in value)
    if value is None:
        return ""
    return str(value)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _comparison(key: str, operator: str, value: Any) -> str:
    if operator in ("is_set", "not_set"):
        return f"{key} {OPERATOR_LABELS[operator]}"
    if operator == "within_last_days":
        return f"{key} is within the last {_days(value)}"
    if operator == "between" and isinstance(value, list) and len(value) == 2:
        return f"{key} is between {value_text(value[0])} and {value_text(value[1])}"
    shown = (
        f"“{value}”"
        if isinstance(value, str) and operator not in ("before", "after")
        else (value_text(value))
    )
    return f"{key} {OPERATOR_LABELS.get(operator, operator)} {shown}"


def window_text(window: dict | None) -> str:
    window = window or {"kind": "ever"}
    if window["kind"] == "last_days":
        return f"in the last {_days(window['days'])}"
    if window["kind"] == "between_days_ago":
        return f"between {window['from']} and {window['to']} days ago"
    return "ever"


def _where(filters: list[dict] | None) -> str:
    if not filters:
        return ""
    parts = [_comparison(f["property"], f["operator"], f.get("value")) for f in filters]
    return " where " + " and ".join(parts)


def describe(node: dict, *, segment_names: dict[int, str] | None = None) -> str:
    """One sentence for a condition (or a group's AND/OR), NOT included."""
    kind = node.get("type")
    prefix = "NOT " if node.get("negate") else ""
    if kind == "group":
        text = "all of" if node["op"] == "and" else "any of"
    elif kind == "trait":
        text = "trait " + _comparison(node["trait"], node["operator"], node.get("value"))
    elif kind == "computed":
        text = _comparison(node["name"], node["operator"], node.get("value"))
    elif kind == "event":
        verb = "performed" if node.get("performed", True) else "did not perform"
        text = f"{verb} “{node['event']}”"
        if "count" in node:
            count = node["count"]
            times = "time" if count["value"] == 1 else "times"
            text += f" {COMPARISON_LABELS[count['operator']]} {value_text(count['value'])} {times}"
        text += " " + window_text(node.get("window")) + _where(node.get("where"))
        if "aggregate" in node:
            agg = node["aggregate"]
            text += (
                f", with {agg['function']} of {agg['property']} "
                f"{SYMBOLS[agg['operator']]} "
                f"{value_text(agg['value'])}"
            )
    elif kind == "sequence":
        then = "then" if node["mode"] == "then" else "and not then"
        text = (
            f"did “{node['first']['event']}”{_where(node['first'].get('where'))} {then} "
            f"“{node['then']['event']}”{_where(node['then'].get('where'))} within "
            f"{_days(node['within_days'])}, {window_text(node.get('window'))}"
        )
    elif kind == "seen":
        which = "first seen" if node["which"] == "first_seen" else "last seen"
        if node["operator"] in ("within_last_days", "not_within_last_days"):
            neg = "not " if node["operator"] == "not_within_last_days" else ""
            text = f"{which} {neg}within the last {_days(node['value'])}"
        else:
            text = f"{which} {node['operator']} {node['value']}"
    elif kind == "consent":
        text = f"consent for {node['purpose']} is {node['status']}"
    elif kind == "segment":
        name = (segment_names or {}).get(node["segment"], f"segment #{node['segment']}")
        text = f"{'is' if node.get('member', True) else 'is not'} in “{name}”"
    else:
        text = f"unknown condition {kind!r}"
    return prefix + text
