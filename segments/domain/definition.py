"""Segment definitions: versioned JSON trees of AND/OR groups and conditions. Pure module.

    {"version": 1, "root": {"id": "g1", "type": "group", "op": "and", "negate": false,
                            "children": [<node>, ...]}}

Every node has a stable `id`. Condition types: trait, event, sequence, seen, consent, segment,
computed. `validate` returns the definition normalised or raises `DefinitionError` naming the node
and what is wrong; docs/segments.md documents the schema.
"""

import re
import uuid
from typing import Any

VERSION = 1
GROUP_OPS = ("and", "or")
TRAIT_OPERATORS = (
    "equals", "not_equals", "contains", "starts_with", "in", "gt", "gte", "lt", "lte",
    "between", "is_set", "not_set", "before", "after", "within_last_days",
)  # fmt: skip
NUMERIC_OPERATORS = ("gt", "gte", "lt", "lte", "between")
DATE_OPERATORS = ("before", "after", "within_last_days")
COMPARISONS = ("eq", "gt", "gte", "lt", "lte")
AGGREGATES = ("sum", "avg", "min", "max")
WINDOW_KINDS = ("ever", "last_days", "between_days_ago")
SEEN_WHICH = ("first_seen", "last_seen")
SEEN_OPERATORS = ("within_last_days", "not_within_last_days", "before", "after")
CONSENT_STATUSES = ("granted", "denied", "unknown")
COMPUTED = {
    "lifetime_value": "number",
    "order_count": "number",
    "event_count": "number",
    "last_order_at": "date",
    "first_order_at": "date",
}
MAX_DEPTH = 8
MAX_NODES = 200
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\- ]{0,99}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class DefinitionError(ValueError):
    """What is wrong with a definition, naming the node."""

    def __init__(self, node_id: str | None, message: str) -> None:
        super().__init__(f"{node_id}: {message}" if node_id else message)
        self.node_id = node_id
        self.message = message


def new_id(prefix: str = "n") -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


def empty_definition() -> dict:
    return {"version": VERSION, "root": {"id": new_id("g"), "type": "group", "op": "and",
                                         "negate": False, "children": []}}  # fmt: skip


def _need(node: dict, key: str, node_id: str) -> Any:
    if key not in node or node[key] is None or node[key] == "":
        raise DefinitionError(node_id, f"'{key}' is required.")
    return node[key]


def _number(value: Any, node_id: str, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DefinitionError(node_id, f"{what} must be a number, got {value!r}.")
    return value


def _days(value: Any, node_id: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0 or value > 36500:
        raise DefinitionError(node_id, f"{what} must be a whole number of days, got {value!r}.")
    return value


def _key(value: Any, node_id: str, what: str) -> str:
    if not isinstance(value, str) or not _KEY.match(value):
        raise DefinitionError(node_id, f"{what} {value!r} is not a valid name.")
    return value


def _operand(node: dict, operator: str, node_id: str) -> None:
    """Check the value of a trait-like comparison for its operator."""
    if operator in ("is_set", "not_set"):
        return
    value = node.get("value")
    if operator == "in":
        if not isinstance(value, list) or not value:
            raise DefinitionError(node_id, "'in' needs a non-empty list of values.")
    elif operator == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise DefinitionError(node_id, "'between' needs [low, high].")
        low, high = (_number(v, node_id, "between bound") for v in value)
        if low > high:
            raise DefinitionError(node_id, f"'between' bounds are reversed: {low} > {high}.")
    elif operator in ("gt", "gte", "lt", "lte"):
        _number(value, node_id, "the value")
    elif operator in ("before", "after"):
        if not isinstance(value, str) or not _DATE.match(value):
            raise DefinitionError(node_id, f"{operator!r} needs a date YYYY-MM-DD, got {value!r}.")
    elif operator == "within_last_days":
        _days(value, node_id, "the number of days")
    elif operator in ("contains", "starts_with"):
        if not isinstance(value, str) or not value:
            raise DefinitionError(node_id, f"{operator!r} needs some text.")
    elif value is None:
        raise DefinitionError(node_id, f"{operator!r} needs a value.")


def _filters(items: Any, node_id: str) -> list[dict]:
    if items in (None, []):
        return []
    if not isinstance(items, list):
        raise DefinitionError(node_id, "'where' must be a list of property filters.")
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise DefinitionError(node_id, "each property filter must be an object.")
        prop = _key(item.get("property"), node_id, "property")
        operator = item.get("operator")
        if operator not in TRAIT_OPERATORS:
            raise DefinitionError(node_id, f"unknown property operator {operator!r}.")
        _operand(item, operator, node_id)
        out.append({"property": prop, "operator": operator, "value": item.get("value")})
    return out


def _window(window: Any, node_id: str) -> dict:
    if window in (None, {}):
        return {"kind": "ever"}
    if not isinstance(window, dict) or window.get("kind") not in WINDOW_KINDS:
        raise DefinitionError(node_id, f"window kind must be one of {', '.join(WINDOW_KINDS)}.")
    kind = window["kind"]
    if kind == "last_days":
        return {"kind": kind, "days": _days(window.get("days"), node_id, "window days")}
    if kind == "between_days_ago":
        start = _days(window.get("from"), node_id, "window 'from'")
        end = _days(window.get("to"), node_id, "window 'to'")
        if start > end:
            raise DefinitionError(node_id, f"window 'from' ({start}) must be ≤ 'to' ({end}).")
        return {"kind": kind, "from": start, "to": end}
    return {"kind": "ever"}


def _comparison(value: Any, node_id: str, what: str) -> dict:
    if not isinstance(value, dict) or value.get("operator") not in COMPARISONS:
        raise DefinitionError(node_id, f"{what} needs an operator in {', '.join(COMPARISONS)}.")
    return {"operator": value["operator"], "value": _number(value.get("value"), node_id, what)}


def _condition(node: dict, node_id: str, segment_ids: set[int] | None) -> dict:
    kind = node["type"]
    if kind in ("trait", "computed"):
        name_key = "trait" if kind == "trait" else "name"
        name = _key(_need(node, name_key, node_id), node_id, name_key)
        if kind == "computed" and name not in COMPUTED:
            raise DefinitionError(node_id, f"unknown computed trait {name!r}.")
        operator = node.get("operator")
        if operator not in TRAIT_OPERATORS:
            raise DefinitionError(node_id, f"unknown operator {operator!r}.")
        _operand(node, operator, node_id)
        return {"id": node_id, "type": kind, name_key: name, "operator": operator,
                "value": node.get("value")}  # fmt: skip
    if kind == "event":
        event = _need(node, "event", node_id)
        if not isinstance(event, str):
            raise DefinitionError(node_id, "'event' must be an event name.")
        out = {"id": node_id, "type": "event", "event": event,
               "performed": bool(node.get("performed", True)),
               "window": _window(node.get("window"), node_id),
               "where": _filters(node.get("where"), node_id)}  # fmt: skip
        if node.get("count") is not None:
            out["count"] = _comparison(node["count"], node_id, "count")
        if node.get("aggregate") is not None:
            agg = node["aggregate"]
            if not isinstance(agg, dict) or agg.get("function") not in AGGREGATES:
                raise DefinitionError(node_id, f"aggregate function must be in {AGGREGATES}.")
            out["aggregate"] = {
                "function": agg["function"],
                "property": _key(agg.get("property"), node_id, "aggregate property"),
                **_comparison(agg, node_id, "aggregate"),
            }
        if not out["performed"] and ("count" in out or "aggregate" in out):
            raise DefinitionError(node_id, "'not performed' cannot have a count or aggregate.")
        return out
    if kind == "sequence":
        steps = []
        for step_name in ("first", "then"):
            step = node.get(step_name)
            if not isinstance(step, dict) or not isinstance(step.get("event"), str):
                raise DefinitionError(node_id, f"'{step_name}' needs an event name.")
            steps.append({"event": step["event"], "where": _filters(step.get("where"), node_id)})
        mode = node.get("mode", "then")
        if mode not in ("then", "not_then"):
            raise DefinitionError(node_id, "mode must be 'then' or 'not_then'.")
        return {"id": node_id, "type": "sequence", "first": steps[0], "then": steps[1],
                "within_days": _days(node.get("within_days"), node_id, "within_days") or 1,
                "mode": mode, "window": _window(node.get("window"), node_id)}  # fmt: skip
    if kind == "seen":
        which, operator = node.get("which"), node.get("operator")
        if which not in SEEN_WHICH or operator not in SEEN_OPERATORS:
            raise DefinitionError(node_id, "seen needs which (first_seen/last_seen) and operator.")
        value = node.get("value")
        if operator in ("before", "after"):
            _operand(node, operator, node_id)
        else:
            _days(value, node_id, "the number of days")
        return {"id": node_id, "type": "seen", "which": which, "operator": operator,
                "value": value}  # fmt: skip
    if kind == "consent":
        purpose = _key(_need(node, "purpose", node_id), node_id, "purpose")
        status = node.get("status", "granted")
        if status not in CONSENT_STATUSES:
            raise DefinitionError(node_id, f"consent status must be in {CONSENT_STATUSES}.")
        return {"id": node_id, "type": "consent", "purpose": purpose, "status": status}
    if kind == "segment":
        segment = node.get("segment")
        if isinstance(segment, bool) or not isinstance(segment, int):
            raise DefinitionError(node_id, "'segment' must be a segment id.")
        if segment_ids is not None and segment not in segment_ids:
            raise DefinitionError(node_id, f"segment {segment} does not exist.")
        return {"id": node_id, "type": "segment", "segment": segment,
                "member": bool(node.get("member", True))}  # fmt: skip
    raise DefinitionError(node_id, f"unknown node type {kind!r}.")


def validate(definition: Any, *, segment_ids: set[int] | None = None) -> dict:
    """The definition, normalised; raises DefinitionError naming the node that is wrong."""
    if not isinstance(definition, dict):
        raise DefinitionError(None, "A definition is a JSON object with 'version' and 'root'.")
    if definition.get("version", VERSION) != VERSION:
        raise DefinitionError(None, f"Unsupported definition version {definition['version']!r}.")
    seen_ids: set[str] = set()
    count = 0

    def walk(node: Any, depth: int) -> dict:
        nonlocal count
        count += 1
        if count > MAX_NODES:
            raise DefinitionError(None, f"A definition may have at most {MAX_NODES} nodes.")
        if not isinstance(node, dict):
            raise DefinitionError(None, f"Every node must be an object, got {node!r}.")
        node_id = node.get("id")
        if not isinstance(node_id, str) or not node_id:
            raise DefinitionError(None, f"A {node.get('type', 'node')} node has no id.")
        if node_id in seen_ids:
            raise DefinitionError(node_id, "this id is used twice.")
        seen_ids.add(node_id)
        if node.get("type") == "group":
            if depth >= MAX_DEPTH:
                raise DefinitionError(node_id, f"groups nest at most {MAX_DEPTH} deep.")
            op = node.get("op", "and")
            if op not in GROUP_OPS:
                raise DefinitionError(node_id, f"group op must be 'and' or 'or', got {op!r}.")
            children = node.get("children", [])
            if not isinstance(children, list):
                raise DefinitionError(node_id, "'children' must be a list.")
            return {"id": node_id, "type": "group", "op": op, "negate": bool(node.get("negate")),
                    "children": [walk(child, depth + 1) for child in children]}  # fmt: skip
        out = _condition(node, node_id, segment_ids)
        if node.get("negate"):
            out["negate"] = True
        return out

    root = definition.get("root")
    if not isinstance(root, dict) or root.get("type") != "group":
        raise DefinitionError(None, "'root' must be a group node.")
    return {"version": VERSION, "root": walk(root, 0)}


def referenced_segments(definition: dict) -> set[int]:
    """The ids of the segments a definition refers to."""
    found: set[int] = set()

    def walk(node: dict) -> None:
        if node.get("type") == "segment":
            found.add(node["segment"])
        for child in node.get("children", []):
            walk(child)

    walk(definition["root"])
    return found


def check_cycles(segment_id: int | None, definition: dict, graph: dict[int, set[int]]) -> None:
    """Refuse a definition whose segment references lead back to itself."""
    if segment_id is None:
        return
    stack = list(referenced_segments(definition))
    seen: set[int] = set()
    while stack:
        current = stack.pop()
        if current == segment_id:
            raise DefinitionError(
                None, "This segment refers back to itself through other segments."
            )
        if current in seen:
            continue
        seen.add(current)
        stack.extend(graph.get(current, ()))


def iter_nodes(node: dict):
    """Every node of a tree, depth first (the node itself first)."""
    yield node
    for child in node.get("children", []):
        yield from iter_nodes(child)


def find(definition: dict, node_id: str) -> dict | None:
    return next((n for n in iter_nodes(definition["root"]) if n["id"] == node_id), None)
