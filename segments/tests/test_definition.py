import pytest

from segments.domain.definition import DefinitionError, check_cycles, validate


def group(*children, op="and", negate=False, id="root"):
    return {"id": id, "type": "group", "op": op, "negate": negate, "children": list(children)}


def d(*children, **kwargs):
    return {"version": 1, "root": group(*children, **kwargs)}


def test_a_full_definition_validates_and_is_normalised():
    definition = d(
        {"id": "t1", "type": "trait", "trait": "plan", "operator": "equals", "value": "pro"},
        {"id": "e1", "type": "event", "event": "Product Viewed",
         "count": {"operator": "gte", "value": 3}, "window": {"kind": "last_days", "days": 7}},
        {"id": "e2", "type": "event", "event": "Order Completed", "performed": False,
         "window": {"kind": "last_days", "days": 7}},
        group({"id": "s1", "type": "sequence", "first": {"event": "Product Added"},
               "then": {"event": "Order Completed"}, "within_days": 1, "mode": "not_then"},
              {"id": "c1", "type": "consent", "purpose": "email_marketing"}, op="or", id="g2"),
    )  # fmt: skip
    out = validate(definition)
    assert out["root"]["children"][1]["where"] == []
    assert out["root"]["children"][2]["performed"] is False
    assert out["root"]["children"][3]["children"][1]["status"] == "granted"


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"id": "x", "type": "trait", "operator": "equals", "value": 1}, "x: 'trait' is required."),
        ({"id": "x", "type": "trait", "trait": "a", "operator": "gt", "value": "ten"},
         "x: the value must be a number, got 'ten'."),
        ({"id": "x", "type": "trait", "trait": "a", "operator": "between", "value": [5, 1]},
         "x: 'between' bounds are reversed: 5 > 1."),
        ({"id": "x", "type": "trait", "trait": "a", "operator": "resembles", "value": 1},
         "x: unknown operator 'resembles'."),
        ({"id": "x", "type": "event", "event": "A", "performed": False,
          "count": {"operator": "gt", "value": 1}},
         "x: 'not performed' cannot have a count or aggregate."),
        ({"id": "x", "type": "event", "event": "A", "window": {"kind": "last_days", "days": -1}},
         "x: window days must be a whole number of days, got -1."),
        ({"id": "x", "type": "magic"}, "x: unknown node type 'magic'."),
        ({"id": "x", "type": "computed", "name": "shoe_size", "operator": "gt", "value": 1},
         "x: unknown computed trait 'shoe_size'."),
        ({"type": "trait", "trait": "a", "operator": "is_set"}, "A trait node has no id."),
    ],
)  # fmt: skip
def test_errors_name_the_node_and_the_problem(node, message):
    with pytest.raises(DefinitionError) as info:
        validate(d(node))
    assert str(info.value) == message


def test_duplicate_ids_and_unknown_segments_are_refused():
    node = {"id": "a", "type": "trait", "trait": "x", "operator": "is_set"}
    with pytest.raises(DefinitionError, match="a: this id is used twice"):
        validate(d(node, dict(node)))
    with pytest.raises(DefinitionError, match="segment 99 does not exist"):
        validate(d({"id": "s", "type": "segment", "segment": 99}), segment_ids={1, 2})


def test_cycles_through_other_segments_are_refused():
    refers_to_2 = validate(d({"id": "s", "type": "segment", "segment": 2}))
    with pytest.raises(DefinitionError, match="refers back to itself"):
        check_cycles(1, refers_to_2, {2: {3}, 3: {1}})
    check_cycles(1, refers_to_2, {2: {3}, 3: set()})  # no cycle: no error


def test_not_a_definition():
    with pytest.raises(DefinitionError, match="'root' must be a group node"):
        validate({"version": 1, "root": {"id": "r", "type": "trait"}})
    with pytest.raises(DefinitionError, match="Unsupported definition version 7"):
        validate({"version": 7, "root": group()})
