"""Pure tree edits behind the builder: each returns a new valid definition with stable ids."""

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from segments.domain import tree
from segments.domain.definition import (
    MAX_DEPTH,
    DefinitionError,
    empty_definition,
    find,
    iter_nodes,
    validate,
)
from segments.domain.templates import STARTERS, starter


def ids(definition):
    return [node["id"] for node in iter_nodes(definition["root"])]


def children_ids(definition, group_id):
    return [child["id"] for child in find(definition, group_id)["children"]]


@pytest.fixture
def base():
    """root(and): a, g(or): [b, c], d"""
    return validate(
        {
            "version": 1,
            "root": {
                "id": "root",
                "type": "group",
                "op": "and",
                "children": [
                    {"id": "a", "type": "trait", "trait": "plan", "operator": "is_set"},
                    {
                        "id": "g",
                        "type": "group",
                        "op": "or",
                        "children": [
                            {"id": "b", "type": "consent", "purpose": "email_marketing"},
                            {"id": "c", "type": "event", "event": "Order Completed"},
                        ],
                    },
                    {
                        "id": "d",
                        "type": "seen",
                        "which": "last_seen",
                        "operator": "within_last_days",
                        "value": 7,
                    },
                ],
            },
        }
    )


@pytest.mark.parametrize("kind", tree.CONDITION_KINDS)
def test_every_condition_type_can_be_added_with_defaults(kind):
    definition = empty_definition()
    root = definition["root"]["id"]
    fields = {"segment": 7} if kind == "segment" else None
    out = tree.add_condition(definition, parent_id=root, kind=kind, fields=fields)
    (added,) = out["root"]["children"]
    assert added["type"] == kind
    assert added["id"] != root
    assert definition["root"]["children"] == []  # the input is untouched


def test_a_segment_condition_needs_a_segment_to_refer_to():
    definition = empty_definition()
    with pytest.raises(DefinitionError, match="'segment' must be a segment id"):
        tree.add_condition(definition, parent_id=definition["root"]["id"], kind="segment")


def test_add_at_a_position_with_overrides(base):
    out = tree.add_condition(
        base, parent_id="g", kind="event", position=1, fields={"event": "Product Viewed"}
    )
    new = children_ids(out, "g")[1]
    assert children_ids(out, "g") == ["b", new, "c"]
    assert find(out, new)["event"] == "Product Viewed"
    assert ids(base) == ["root", "a", "g", "b", "c", "d"]


def test_add_into_a_condition_or_an_unknown_group_is_refused(base):
    with pytest.raises(DefinitionError, match="only be added to a group") as error:
        tree.add_condition(base, parent_id="a", kind="trait")
    assert error.value.node_id == "a"
    with pytest.raises(DefinitionError, match="no such group"):
        tree.add_group(base, parent_id="nope")
    with pytest.raises(DefinitionError, match="unknown condition type"):
        tree.add_condition(base, parent_id="root", kind="weather")


def test_add_group_and_remove_a_subtree(base):
    out = tree.add_group(base, parent_id="root", position=0, op="or")
    group_id = out["root"]["children"][0]["id"]
    assert find(out, group_id) == {
        "id": group_id, "type": "group", "op": "or", "negate": False, "children": []
    }  # fmt: skip
    out = tree.remove_node(out, node_id="g")
    assert ids(out) == ["root", group_id, "a", "d"]
    with pytest.raises(DefinitionError, match="top group cannot be removed"):
        tree.remove_node(out, node_id="root")
    with pytest.raises(DefinitionError, match="no such node") as error:
        tree.remove_node(out, node_id="b")
    assert error.value.node_id == "b"


def test_move_between_groups_at_a_position(base):
    out = tree.move_node(base, node_id="a", parent_id="g", position=1)
    assert children_ids(out, "g") == ["b", "a", "c"]
    assert children_ids(out, "root") == ["g", "d"]
    out = tree.move_node(out, node_id="c", parent_id="root", position=0)
    assert children_ids(out, "root") == ["c", "g", "d"]
    # The position counts after taking the node out: moving within one group.
    out = tree.move_node(out, node_id="c", parent_id="root", position=2)
    assert children_ids(out, "root") == ["g", "d", "c"]
    out = tree.move_node(out, node_id="c", parent_id="root")
    assert children_ids(out, "root") == ["g", "d", "c"]


def test_a_group_cannot_move_into_itself_or_its_descendants(base):
    out = tree.add_group(base, parent_id="g")
    inner = children_ids(out, "g")[-1]
    for target in ("g", inner):
        with pytest.raises(DefinitionError, match="cannot be moved into itself") as error:
            tree.move_node(out, node_id="g", parent_id=target)
        assert error.value.node_id == "g"
    with pytest.raises(DefinitionError, match="top group cannot be moved"):
        tree.move_node(out, node_id="root", parent_id=inner)
    with pytest.raises(DefinitionError, match="only be added to a group"):
        tree.move_node(out, node_id="d", parent_id="a")


def test_up_down_into_and_out(base):
    out = tree.move_up(base, node_id="d")
    assert children_ids(out, "root") == ["a", "d", "g"]
    out = tree.move_down(out, node_id="a")
    assert children_ids(out, "root") == ["d", "a", "g"]
    with pytest.raises(DefinitionError, match="already first"):
        tree.move_up(out, node_id="d")
    with pytest.raises(DefinitionError, match="already last"):
        tree.move_down(out, node_id="g")
    with pytest.raises(DefinitionError, match="no group just above"):
        tree.move_into_group_above(out, node_id="a")
    out = tree.move_down(out, node_id="a")  # d, g, a
    assert tree.group_above(out, "a")["id"] == "g"
    out = tree.move_into_group_above(out, node_id="a")
    assert children_ids(out, "g") == ["b", "c", "a"]
    out = tree.move_out(out, node_id="b")
    assert children_ids(out, "root") == ["d", "g", "b"]
    assert children_ids(out, "g") == ["c", "a"]
    with pytest.raises(DefinitionError, match="already in the top group"):
        tree.move_out(out, node_id="b")


def test_toggles_and_updates(base):
    out = tree.toggle_op(base, group_id="g")
    assert find(out, "g")["op"] == "and"
    assert tree.toggle_op(out, group_id="g")["root"] == base["root"]
    with pytest.raises(DefinitionError, match="only be added to a group"):
        tree.toggle_op(base, group_id="a")
    out = tree.toggle_negate(base, node_id="c")
    assert find(out, "c")["negate"] is True
    assert "negate" not in find(tree.toggle_negate(out, node_id="c"), "c")
    assert tree.toggle_negate(base, node_id="root")["root"]["negate"] is True

    out = tree.update_node(
        base, node_id="c", fields={"count": {"operator": "gte", "value": 2}, "window": None}
    )
    assert find(out, "c")["count"] == {"operator": "gte", "value": 2}
    assert find(out, "c")["window"] == {"kind": "ever"}


def test_an_invalid_update_names_the_node_and_changes_nothing(base):
    before = copy.deepcopy(base)
    with pytest.raises(DefinitionError, match="'between' needs") as error:
        tree.update_node(base, node_id="a", fields={"operator": "between", "value": 3})
    assert error.value.node_id == "a"
    assert base == before
    attempted = tree.updated_node(base, node_id="a", fields={"operator": "between", "value": 3})
    assert attempted["operator"] == "between"
    with pytest.raises(DefinitionError, match="cannot be changed"):
        tree.update_node(base, node_id="a", fields={"id": "z"})


def test_moving_too_deep_is_refused():
    definition = empty_definition()
    parent = definition["root"]["id"]
    for _ in range(MAX_DEPTH - 1):
        definition = tree.add_group(definition, parent_id=parent)
        parent = find(definition, parent)["children"][0]["id"]
    definition = tree.add_group(definition, parent_id=definition["root"]["id"])
    extra = definition["root"]["children"][-1]["id"]
    with pytest.raises(DefinitionError, match="nest at most"):
        tree.move_node(definition, node_id=extra, parent_id=parent)


def test_shape_ignores_ids(base):
    renamed = copy.deepcopy(base)
    for node in iter_nodes(renamed["root"]):
        node["id"] = "x" + node["id"]
    assert tree.shape(renamed["root"]) == tree.shape(base["root"])
    assert tree.shape(tree.toggle_op(base, group_id="g")["root"]) != tree.shape(base["root"])


def test_starters_are_valid_and_fresh_copies():
    assert len(STARTERS) == 4
    for item in STARTERS:
        copy_a = starter(item.key).definition
        copy_a["root"]["op"] = "or"
        assert starter(item.key).definition["root"]["op"] == "and"
    assert starter("nope") is None
    cart = starter("cart-abandoners").definition["root"]["children"][0]
    assert (cart["mode"], cart["within_days"], cart["window"]) == (
        "not_then", 1, {"kind": "last_days", "days": 1},
    )  # fmt: skip


# --- Any sequence of edits keeps a valid definition with unique ids -----------------------------

EDITS = st.lists(
    st.tuples(
        st.sampled_from(
            ["add", "group", "remove", "move", "up", "down", "into", "out", "op", "not", "update"]
        ),
        st.integers(0, 1000),
        st.integers(0, 1000),
        st.sampled_from(tree.CONDITION_KINDS[:5]),
    ),
    max_size=40,
)


def apply_edit(definition, edit):
    action, i, j, kind = edit
    nodes = list(iter_nodes(definition["root"]))
    groups = [n for n in nodes if n["type"] == "group"]
    node = nodes[i % len(nodes)]
    group = groups[j % len(groups)]
    if action == "add":
        return tree.add_condition(definition, parent_id=group["id"], kind=kind, position=i % 4)
    if action == "group":
        return tree.add_group(definition, parent_id=group["id"], position=j % 3)
    if action == "remove":
        return tree.remove_node(definition, node_id=node["id"])
    if action == "move":
        return tree.move_node(definition, node_id=node["id"], parent_id=group["id"], position=j % 5)
    if action == "up":
        return tree.move_up(definition, node_id=node["id"])
    if action == "down":
        return tree.move_down(definition, node_id=node["id"])
    if action == "into":
        return tree.move_into_group_above(definition, node_id=node["id"])
    if action == "out":
        return tree.move_out(definition, node_id=node["id"])
    if action == "op":
        return tree.toggle_op(definition, group_id=group["id"])
    if action == "not":
        return tree.toggle_negate(definition, node_id=node["id"])
    if node["type"] == "trait":
        return tree.update_node(definition, node_id=node["id"], fields={"value": None})
    return tree.update_node(definition, node_id=node["id"], fields={"negate": bool(i % 2)})


@settings(max_examples=300, deadline=None)
@given(EDITS)
def test_random_edit_sequences_keep_a_valid_tree_with_unique_ids(edits):
    definition = empty_definition()
    root_id = definition["root"]["id"]
    for edit in edits:
        before = copy.deepcopy(definition)
        try:
            after = apply_edit(definition, edit)
        except DefinitionError as error:
            assert error.node_id is None or find(definition, error.node_id) is not None
            assert definition == before  # a refused edit changes nothing
            continue
        assert definition == before  # edits never change their input
        assert validate(after) == after
        after_ids = ids(after)
        assert len(after_ids) == len(set(after_ids))
        assert after["root"]["id"] == root_id
        action = edit[0]
        if action in ("add", "group"):
            assert set(after_ids) > set(ids(before)) and len(after_ids) == len(ids(before)) + 1
        elif action == "remove":
            assert set(after_ids) < set(ids(before))
        else:  # moves and toggles keep exactly the same nodes
            assert sorted(after_ids) == sorted(ids(before))
        definition = after
