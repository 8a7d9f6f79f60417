"""The pure CSV import checks each identifier value against its identity type's rule."""

import pytest

from profiles.domain.csv_import import RowError, plan_mapping, row_convert, row_message
from profiles.domain.identity import TypeRule

SHA = "cd" * 32
RULES = {
    "email": TypeRule("email", "email", blocked_values=frozenset({"test@example.com", "null"})),
    "phone": TypeRule("phone", "phone", default_region="GB"),
    "crm_id": TypeRule("crm_id", "regex", pattern=r"C\d+", blocked_values=frozenset({"null"})),
}
PLAN = plan_mapping(
    {"email": "identifier:email", "phone": "identifier:phone", "crm": "identifier:crm_id"},
    ["email", "phone", "crm", "name"],
)


def convert(fields, plan=PLAN):
    return row_convert(plan, fields, row_number=1, file_sha256=SHA, rules=RULES)


def test_a_row_whose_only_identifier_is_invalid_is_rejected_naming_column_problem_and_fix():
    with pytest.raises(RowError) as caught:
        convert(["jane at example dot com", "", "", "Jane"])

    assert caught.value.code == "invalid_identifier"
    assert caught.value.reason == (
        "Column 'email' (identifier:email): 'jane at example dot com' is not an email address "
        "(use an email address such as jane@example.com); no other usable identifier on the row."
    )


def test_a_row_whose_identifiers_are_all_invalid_or_blocked_is_rejected_with_every_reason():
    with pytest.raises(RowError) as caught:
        convert(["test@example.com", "12", "X9", ""])

    reason = caught.value.reason
    assert caught.value.code == "invalid_identifier"
    assert "'test@example.com' is a blocked placeholder value for email" in reason
    assert "Column 'phone' (identifier:phone): '12' is not a possible phone number" in reason
    assert "(region GB)" in reason
    assert "Column 'crm' (identifier:crm_id): 'X9' does not match C\\d+" in reason


def test_a_refused_identifier_comes_before_other_row_problems():
    plan = plan_mapping({"email": "identifier:email", "ok": "consent:email"}, ["email", "ok"])
    with pytest.raises(RowError) as caught:
        convert(["null", "perhaps"], plan=plan)

    assert caught.value.code == "invalid_identifier"
    assert "'perhaps' is not a consent value" in caught.value.reason


def test_a_row_with_one_usable_identifier_is_kept_with_a_warning_about_the_refused_one():
    converted = convert(["jane at example dot com", "", "C12", "Jane"])

    [warning] = converted.warnings
    assert warning.code == "invalid_identifier"
    assert warning.reason.startswith(
        "Column 'email' (identifier:email): 'jane at example dot com' is not an email address"
    )
    assert "imported on its other identifiers" in warning.reason
    # The refused value stays in the message: the identity step drops it and records it on
    # the profile's ledger, so nothing the file said is lost.
    assert converted.message["context"]["externalIds"] == [
        {
            "id": "jane at example dot com",
            "type": "email",
            "collection": "users",
            "encoding": "none",
        },
        {"id": "C12", "type": "crm_id", "collection": "users", "encoding": "none"},
    ]


def test_valid_identifiers_give_no_warning_and_types_without_a_rule_are_not_checked():
    assert convert(["Jane@Example.com", "07700 900123", "C1", ""]).warnings == ()
    plan = plan_mapping({"card": "identifier:loyalty_id"}, ["card"])
    assert convert(["null"], plan=plan).warnings == ()
    # Without rules (the benchmark's use), nothing is checked.
    message = row_message(PLAN, ["not an email", "", "", ""], row_number=1, file_sha256=SHA)
    assert message["traits"] == {"email": "not an email"}
