"""The pure checks on a source's limits and tracking plan text."""

import pytest

from profiles.domain.source_settings import format_json, limit_errors, parse_plan
from profiles.domain.tracking_plan import PlanError

CAP = 4 * 1024 * 1024


def limits(**given):
    values = {
        "max_message_bytes": 32 * 1024,
        "max_batch_bytes": 500 * 1024,
        "rate_limit_per_second": 200,
        "hard_cap": CAP,
    }
    return limit_errors(**(values | given))


def test_the_defaults_are_fine():
    assert limits() == {}


def test_batch_limit_cannot_pass_the_servers_hard_cap():
    assert "At most 4194304 bytes" in limits(max_batch_bytes=CAP + 1)["max_batch_bytes"]
    assert limits(max_batch_bytes=CAP) == {}


def test_a_message_cannot_be_larger_than_its_batch():
    errors = limits(max_message_bytes=600 * 1024)
    assert errors == {
        "max_message_bytes": "A message cannot be larger than the batch that carries it "
        "(512000 bytes)."
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_message_bytes", 10), ("max_batch_bytes", 100), ("rate_limit_per_second", 0)],
)
def test_tiny_or_zero_limits_are_refused(field, value):
    assert field in limits(**{field: value})


def test_empty_text_is_no_plan():
    assert parse_plan("  \n") == {}


def test_a_plan_parses_and_keeps_its_order():
    plan = parse_plan('{"Order Completed": {"revenue": "number", "order_id": "string"}}')
    assert list(plan["Order Completed"]) == ["revenue", "order_id"]
    assert format_json(plan).startswith('{\n  "Order Completed": {\n    "revenue"')


def test_broken_json_names_line_and_column():
    with pytest.raises(PlanError, match=r"Not valid JSON: .* at line 2, column \d+"):
        parse_plan('{"Order Completed":\n {"revenue": number}}')


def test_unknown_property_type_is_named():
    with pytest.raises(PlanError, match=r"'Order Completed'.revenue: unknown type 'money'"):
        parse_plan('{"Order Completed": {"revenue": "money"}}')
