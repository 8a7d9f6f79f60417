"""Pure edits of a segment definition tree, the operations behind the builder. Pure module.

Every function takes a definition and returns a new, validated one (the input is never changed);
node ids stay stable, new nodes get fresh ids, and an impossible edit (moving a group into its own
descendant, removing the root, moving the first node up) raises `DefinitionError` naming the node.
"""

import copy
from typing import Any

from segments.domain.definition import (
    COMPUTED,
    DefinitionError,
    find,
    iter_nodes,
    new_id,
    validate,
)

CONDITION_KINDS = ("trait", "event", "sequence", "seen", "consent", "segment", "computed")
PALETTE = {
    "trait": "Trait",
    "event": "Event",
    "sequence": "Sequence",
    "seen": "First / last seen",
    "consent": "Consent",
    "segment": "Other segment",
    "computed": "Computed trait",
}
# Fields no edit may change through `update_node`: they are the tree's own structure.
_STRUCTURAL = frozenset({"id", "type", "children"})


def condition_defaults(kind: str) -> dict[str, Any]:
    """The fields a new condition of `kind` starts with (valid on their own, except segment)."""
    defaults: dict[str, dict[str, Any]] = {
        "trait": {"trait": "email", "operator": "is_set", "value": None},
        "event": {
            "event": "Order Completed",
            "performed": True,
            "window": {"kind": "last_days", "days": 30},
            "where": [],
        },
        "sequence": {
            "first": {"event": "Product Added", "where": []},
            "then": {"event": "Order Completed", "where": []},
            "within_days": 1,
            "mode": "not_then",
            "window": {"kind": "last_days", "days": 7},
        },
        "seen": {"which": "last_seen", "operator": "within_last_days", "value": 30},
        "consent": {"purpose": "email_marketing", "status": "granted"},
        "segment": {"member": True},
        "computed": {"name": next(iter(COMPUTED)), "operator": "gte", "value": 100},
    }
    if kind not in defaults:
        raise DefinitionError(None, f"unknown condition type {kind!r}.")
    return copy.deepcopy(defaults[kind])


def _fresh_id(definition: dict, prefix: str) -> str:
    taken = {node["id"] for node in iter_nodes(definition["root"])}
    while True:
        candidate = new_id(prefix)
        if candidate not in taken:
            return candidate


def _locate(definition: dict, node_id: str) -> tuple[dict | None, int]:
    """The parent group of `node_id` and its index there; (None, 0) for the root."""
    root = definition["root"]
    if root["id"] == node_id:
        return None, 0
    for node in iter_nodes(root):
        for index, child in enumerate(node.get("children", [])):
            if child["id"] == node_id:
                return node, index
    raise DefinitionError(node_id, "no such node in this definition.")


def _group(definition: dict, group_id: str) -> dict:
    node = find(definition, group_id)
    if node is None:
        raise DefinitionError(group_id, "no such group in this definition.")
    if node["type"] != "group":
        raise DefinitionError(group_id, "conditions can only be added to a group.")
    return node


def _insert(children: list, node: dict, position: int | None) -> None:
    if position is None or position > len(children):
        children.append(node)
    else:
        children.insert(max(position, 0), node)


def _begin(definition: dict) -> dict:
    """A private, validated copy to edit."""
    return copy.deepcopy(validate(definition))


def parent_of(definition: dict, node_id: str) -> dict | None:
    """The group that holds `node_id` (None for the root)."""
    return _locate(definition, node_id)[0]


def add_node(definition: dict, *, parent_id: str, node: dict, position: int | None = None) -> dict:
    """Insert an already built node (with an id unused in the tree) into a group."""
    out = _begin(definition)
    _insert(_group(out, parent_id)["children"], copy.deepcopy(node), position)
    return validate(out)


def add_condition(
    definition: dict,
    *,
    parent_id: str,
    kind: str,
    position: int | None = None,
    fields: dict | None = None,
) -> dict:
    """Add a new condition of `kind` (defaults, overridden by `fields`) into a group."""
    if kind not in CONDITION_KINDS:
        raise DefinitionError(None, f"unknown condition type {kind!r}.")
    node = {"id": _fresh_id(definition, "c"), "type": kind, **condition_defaults(kind)}
    node.update({k: v for k, v in (fields or {}).items() if k not in _STRUCTURAL})
    return add_node(definition, parent_id=parent_id, node=node, position=position)


def add_group(
    definition: dict, *, parent_id: str, position: int | None = None, op: str = "and"
) -> dict:
    """Add a new, empty group into a group."""
    node = {
        "id": _fresh_id(definition, "g"),
        "type": "group",
        "op": op,
        "negate": False,
        "children": [],
    }
    return add_node(definition, parent_id=parent_id, node=node, position=position)


def remove_node(definition: dict, *, node_id: str) -> dict:
    """Remove a node and everything under it; the root stays."""
    out = _begin(definition)
    parent, index = _locate(out, node_id)
    if parent is None:
        raise DefinitionError(node_id, "the top group cannot be removed.")
    del parent["children"][index]
    return validate(out)


def move_node(
    definition: dict, *, node_id: str, parent_id: str, position: int | None = None
) -> dict:
    """Move a node into a group at `position` (counted after taking it out; None: the end)."""
    out = _begin(definition)
    parent, index = _locate(out, node_id)
    if parent is None:
        raise DefinitionError(node_id, "the top group cannot be moved.")
    node = parent["children"][index]
    if any(inner["id"] == parent_id for inner in iter_nodes(node)):
        raise DefinitionError(node_id, "a group cannot be moved into itself.")
    target = _group(out, parent_id)
    del parent["children"][index]
    _insert(target["children"], node, position)
    return validate(out)


def move_up(definition: dict, *, node_id: str) -> dict:
    """Swap a node with the one before it in its group."""
    definition = validate(definition)
    parent, index = _locate(definition, node_id)
    if parent is None or index == 0:
        raise DefinitionError(node_id, "this is already first in its group.")
    return move_node(definition, node_id=node_id, parent_id=parent["id"], position=index - 1)


def move_down(definition: dict, *, node_id: str) -> dict:
    """Swap a node with the one after it in its group."""
    definition = validate(definition)
    parent, index = _locate(definition, node_id)
    if parent is None or index == len(parent["children"]) - 1:
        raise DefinitionError(node_id, "this is already last in its group.")
    return move_node(definition, node_id=node_id, parent_id=parent["id"], position=index + 1)


def group_above(definition: dict, node_id: str) -> dict | None:
    """The group just before `node_id` among its siblings, if that sibling is a group."""
    parent, index = _locate(definition, node_id)
    if parent is None or index == 0:
        return None
    previous = parent["children"][index - 1]
    return previous if previous["type"] == "group" else None


def move_into_group_above(definition: dict, *, node_id: str) -> dict:
    """Move a node to the end of the group just above it."""
    definition = validate(definition)
    target = group_above(definition, node_id)
    if target is None:
        raise DefinitionError(node_id, "there is no group just above this to move it into.")
    return move_node(definition, node_id=node_id, parent_id=target["id"])


def move_out(definition: dict, *, node_id: str) -> dict:
    """Move a node out of its group, into the group above that, just after the group it left."""
    definition = validate(definition)
    parent, _ = _locate(definition, node_id)
    if parent is None:
        raise DefinitionError(node_id, "the top group cannot be moved.")
    grandparent, parent_index = _locate(definition, parent["id"])
    if grandparent is None:
        raise DefinitionError(node_id, "this is already in the top group.")
    return move_node(
        definition, node_id=node_id, parent_id=grandparent["id"], position=parent_index + 1
    )


def toggle_op(definition: dict, *, group_id: str) -> dict:
    """Switch a group between AND and OR."""
    out = _begin(definition)
    group = _group(out, group_id)
    group["op"] = "or" if group["op"] == "and" else "and"
    return validate(out)


def toggle_negate(definition: dict, *, node_id: str) -> dict:
    """Switch NOT on or off for a group or a condition."""
    out = _begin(definition)
    node = find(out, node_id)
    if node is None:
        raise DefinitionError(node_id, "no such node in this definition.")
    node["negate"] = not node.get("negate", False)
    return validate(out)


def update_node(definition: dict, *, node_id: str, fields: dict) -> dict:
    """Change a node's own fields (a None value removes the field); id, type and children stay."""
    refused = set(fields) & _STRUCTURAL
    if refused:
        raise DefinitionError(node_id, f"{', '.join(sorted(refused))} cannot be changed.")
    out = _begin(definition)
    node = find(out, node_id)
    if node is None:
        raise DefinitionError(node_id, "no such node in this definition.")
    for key, value in fields.items():
        if value is None:
            node.pop(key, None)
        else:
            node[key] = copy.deepcopy(value)
    return validate(out)


def updated_node(definition: dict, *, node_id: str, fields: dict) -> dict:
    """The node as `update_node` would make it, without validating (to show a refused edit)."""
    node = copy.deepcopy(find(definition, node_id) or {"id": node_id})
    for key, value in fields.items():
        if key in _STRUCTURAL:
            continue
        if value is None:
            node.pop(key, None)
        else:
            node[key] = copy.deepcopy(value)
    return node


def shape(node: dict) -> Any:
    """A node without its ids: what two trees must share to be the same segment."""
    if node.get("type") == "group":
        return {
            "op": node["op"],
            "negate": bool(node.get("negate")),
            "children": [shape(child) for child in node["children"]],
        }
    return {key: value for key, value in node.items() if key != "id"}
