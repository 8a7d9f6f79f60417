"""What a node editor posts becomes typed definition fields, and typed values show as text that
reads back the same."""

import pytest
from django.http import QueryDict
from hypothesis import given
from hypothesis import strategies as st

from segments.builder import editor_values, operand_values
from segments.forms import node_fields, parse_operand, parse_scalar, scalar_text

SCALARS = st.one_of(
    st.text(max_size=20), st.integers(), st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
)  # fmt: skip


@given(SCALARS)
def test_a_value_shown_in_the_editor_reads_back_the_same(value):
    assert parse_scalar(scalar_text(value)) == value


def test_typing_rules():
    assert parse_scalar(" 12 ") == 12
    assert parse_scalar("true") is True
    assert parse_scalar('"12"') == "12"
    assert parse_scalar("pro plan") == "pro plan"
    assert parse_scalar("[1]") == "[1]"  # only scalars are typed
    assert parse_operand("between", {"value_low": "1", "value_high": "2.5"}) == [1, 2.5]
    assert parse_operand("between", {"value": "80"}) == [80, 80]  # switched from ≥ 80
    assert parse_operand("gte", {"value_low": "5", "value_high": "9"}) == 5  # from between
    assert parse_operand("in", {"value": "a, 2, "}) == ["a", 2]
    assert parse_operand("is_set", {"value": "x"}) is None
    assert parse_operand("gt", {"value": "lots"}) == "lots"  # for the validator to name


def test_event_fields_from_a_post():
    post = QueryDict(mutable=True)
    post.update({"event": " Order Completed ", "performed": "1", "count_op": "gte",
                 "count_value": "2", "window_kind": "between_days_ago", "window_from": "7",
                 "window_to": "14", "where-0-property": "currency", "where-0-operator": "in",
                 "where-0-value": "EUR, USD", "agg_function": ""})  # fmt: skip
    assert node_fields("event", post) == {
        "event": "Order Completed",
        "performed": True,
        "window": {"kind": "between_days_ago", "from": 7, "to": 14},
        "where": [{"property": "currency", "operator": "in", "value": ["EUR", "USD"]}],
        "count": {"operator": "gte", "value": 2},
        "aggregate": None,
    }
    post.update({"performed": "0"})  # not performed: no count, no total
    fields = node_fields("event", post)
    assert (fields["count"], fields["aggregate"]) == (None, None)


def test_the_editor_shows_what_a_node_holds():
    values = editor_values({"type": "trait", "trait": "age", "operator": "between",
                            "value": [18, 30]})  # fmt: skip
    assert (values["low"], values["high"]) == ("18", "30")
    assert operand_values(["a", "1"], "in")["value"] == 'a, "1"'
    # A refused edit can hold anything: the editor still renders.
    assert editor_values({"type": "event", "count": "x", "where": "nope"})["filters"] == []


def test_numbers_of_any_size_and_no_nan():
    from segments.forms import loads

    huge = 10**30
    assert parse_scalar(str(huge)) == huge
    assert scalar_text(huge) == str(huge)
    assert parse_scalar("NaN") == "NaN"  # text, not a float PostgreSQL's jsonb would refuse
    with pytest.raises(ValueError, match="Infinity is not a JSON value"):
        loads('{"a": Infinity}')
