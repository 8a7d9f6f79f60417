"""The pure CSV import module: mappings, file reading and rows into Segment-Spec messages."""

import io
from datetime import UTC, datetime

import pytest

from profiles.domain import csv_import
from profiles.domain.csv_import import (
    CsvFileError,
    Kind,
    MappingError,
    RowError,
    Target,
    check_file_size,
    detect_encoding,
    message_id,
    number_or_text,
    open_csv,
    parse_mapping_args,
    parse_target,
    plan_mapping,
    row_message,
    row_values,
    sniff_delimiter,
    suggest_mapping,
)
from profiles.domain.messages import prepare_messages

SHA = "ab" * 32
CRM_HEADER = ["crm_id", "first_name", "email", "phone", "city", "email_opt_in"]
CRM_MAPPING = {
    "crm_id": "identifier:crm_id",
    "first_name": "trait:firstName",
    "email": "identifier:email",
    "phone": "identifier:phone",
    "city": "trait:address.city",
    "email_opt_in": "consent:email_marketing",
}
POS_HEADER = ["order", "when", "email", "event", "revenue", "items", "till_code"]
POS_MAPPING = {
    "order": "event:property:order_id",
    "when": "event:timestamp",
    "email": "identifier:email",
    "event": "event:name",
    "revenue": "event:property:revenue",
    "items": "event:property:items",
    "till_code": "event:property:till",
}


def crm_plan():
    return plan_mapping(CRM_MAPPING, CRM_HEADER)


def pos_plan():
    return plan_mapping(POS_MAPPING, POS_HEADER)


def problems_of(mapping, header) -> list[str]:
    with pytest.raises(MappingError) as caught:
        plan_mapping(mapping, header)
    return caught.value.problems


def row_error(plan, fields, number=1) -> RowError:
    with pytest.raises(RowError) as caught:
        row_message(plan, fields, row_number=number, file_sha256=SHA)
    return caught.value


# --- Targets and mappings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("identifier:email", Target(Kind.IDENTIFIER, "email")),
        ("identifier:loyalty_id", Target(Kind.IDENTIFIER, "loyalty_id")),
        ("identifier:membership_no", Target(Kind.IDENTIFIER, "membership_no")),
        ("trait:firstName", Target(Kind.TRAIT, "firstName")),
        ("trait:address.postalCode", Target(Kind.TRAIT, "address.postalCode")),
        ("consent:email_marketing", Target(Kind.CONSENT, "email_marketing")),
        ("event:name", Target(Kind.EVENT_NAME)),
        ("event:timestamp", Target(Kind.EVENT_TIMESTAMP)),
        ("event:property:order id", Target(Kind.EVENT_PROPERTY, "order id")),
        ("  trait:city ", Target(Kind.TRAIT, "city")),
    ],
)
def test_targets_parse_and_print_back(text, target):
    assert parse_target(text) == target
    assert parse_target(str(target)) == target


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("identifier:Email", "lowercase letters and _"),
        ("identifier:", "lowercase letters and _"),
        ("identifier:e-mail", "lowercase letters and _"),
        ("trait:address..city", "dots for nested traits"),
        ("trait:", "dots for nested traits"),
        ("consent:Email Marketing", "lowercase letters, digits and _"),
        ("event:property:", "1 to 255 characters"),
        ("event:property: padded", "1 to 255 characters"),
        ("event:when", "Unknown target"),
        ("email", "Unknown target 'email'"),
        ("traits:name", "Unknown target"),
    ],
)
def test_bad_targets_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message):
        parse_target(text)


def test_mapping_arguments_from_a_command_line():
    assert parse_mapping_args(["email=identifier:email", " a=b = trait:x"]) == {
        "email": "identifier:email",
        "a=b": "trait:x",
    }
    with pytest.raises(MappingError, match="is not COLUMN=TARGET"):
        parse_mapping_args(["email"])
    with pytest.raises(MappingError, match="is not COLUMN=TARGET"):
        parse_mapping_args(["=trait:x"])
    with pytest.raises(MappingError, match="mapped twice"):
        parse_mapping_args(["email=identifier:email", "email=trait:email"])


def test_a_valid_mapping_keeps_file_order_and_skips_unmapped_columns():
    plan = plan_mapping({**CRM_MAPPING, "city": ""}, CRM_HEADER, delimiter=";")
    assert [column.name for column in plan.columns] == [
        "crm_id",
        "first_name",
        "email",
        "phone",
        "email_opt_in",
    ]
    assert plan.columns[2].index == 2
    assert not plan.is_track
    assert plan.delimiter == ";"
    assert "city" not in plan.as_mapping()
    assert pos_plan().is_track


def test_an_unknown_column_lists_the_files_columns_and_a_close_match():
    (problem,) = problems_of({"Email": "identifier:email"}, CRM_HEADER)
    assert problem.startswith("Unknown column 'Email': the file's columns are 'crm_id', ")
    assert problem.endswith("Did you mean 'email'?")
    (problem,) = problems_of({"zzz": "identifier:email"}, CRM_HEADER)
    assert "Did you mean" not in problem


def test_every_mapping_problem_is_reported_at_once():
    problems = problems_of(
        {"nope": "identifier:email", "email": "trait:email", "phone": "bogus"}, CRM_HEADER
    )
    assert len(problems) == 2
    assert any("Unknown column 'nope'" in problem for problem in problems)
    assert any("Column 'phone': Unknown target 'bogus'" in problem for problem in problems)


def test_two_columns_cannot_share_a_target_or_a_trait():
    (problem,) = problems_of({"email": "identifier:email", "phone": "identifier:email"}, CRM_HEADER)
    assert problem == "Columns 'email' and 'phone' are both mapped to identifier:email."
    (problem,) = problems_of({"email": "identifier:email", "city": "trait:email"}, CRM_HEADER)
    assert "both set the trait 'email'" in problem
    (problem,) = problems_of(
        {"email": "identifier:email", "city": "trait:address", "phone": "trait:address.city"},
        CRM_HEADER,
    )
    assert "both set the trait 'address'" in problem


def test_a_mapping_needs_an_identifier_and_an_event_name_for_event_columns():
    assert problems_of({}, CRM_HEADER) == ["Map at least one column."]
    assert problems_of({"email": ""}, CRM_HEADER) == ["Map at least one column."]
    (problem,) = problems_of({"first_name": "trait:firstName"}, CRM_HEADER)
    assert problem.startswith("Map at least one column to an identifier")
    (problem,) = problems_of({"email": "identifier:email", "when": "event:timestamp"}, POS_HEADER)
    assert "need a column mapped to event:name" in problem


def test_a_column_named_twice_in_the_header_cannot_be_mapped():
    (problem,) = problems_of({"email": "identifier:email"}, ["email", "name", "email"])
    assert "appears 2 times in the header" in problem


def test_suggestions_from_column_names():
    crm = suggest_mapping(
        [
            "crm_id",
            "First Name",
            "lastName",
            "E-mail",
            "mobile",
            "address_line1",
            "city",
            "postcode",
            "date_of_birth",
            "loyalty_number",
            "created_date",
            "email_opt_in",
            "sms_opt_in",
            "ads_opt_in",
            "consent_analytics",
            "favourite colour",
        ]
    )
    assert crm == {
        "crm_id": "identifier:crm_id",
        "First Name": "trait:firstName",
        "lastName": "trait:lastName",
        "E-mail": "identifier:email",
        "mobile": "identifier:phone",
        "address_line1": "trait:address.street",
        "city": "trait:address.city",
        "postcode": "trait:address.postalCode",
        "date_of_birth": "trait:birthday",
        "loyalty_number": "identifier:loyalty_id",
        "created_date": "trait:createdAt",
        "email_opt_in": "consent:email_marketing",
        "sms_opt_in": "consent:sms",
        "ads_opt_in": "consent:advertising",
        "consent_analytics": "consent:analytics",
        "favourite colour": "trait:favouriteColour",
    }
    pos = suggest_mapping(["transaction_id", "timestamp", "customer_email", "event", "revenue"])
    assert pos == {
        "transaction_id": "event:property:transaction_id",
        "timestamp": "event:timestamp",
        "customer_email": "identifier:email",
        "event": "event:name",
        "revenue": "event:property:revenue",
    }
    plan_mapping(pos, list(pos))  # the suggestions make a valid mapping


# --- Reading files ------------------------------------------------------------------------------


def read(text: str):
    opened = open_csv(io.StringIO(text, newline=""))
    return opened.delimiter, opened.header, list(opened.records)


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_the_delimiter_is_sniffed(delimiter):
    text = delimiter.join(["email", "name", "note"]) + "\n"
    text += delimiter.join(["a@example.com", "Ann", '"x, y; z"']) + "\n"
    found, header, records = read(text)
    assert found == delimiter
    assert header == ["email", "name", "note"]
    assert records[0].fields == ["a@example.com", "Ann", "x, y; z"]


def test_semicolon_files_with_decimal_commas_are_not_taken_for_commas():
    assert (
        sniff_delimiter("email;revenue;items\na@example.com;12,50;1\nb@example.com;3,99;2\n") == ";"
    )
    assert sniff_delimiter("email\na@example.com\n") == ","


def test_bom_blank_lines_quotes_and_embedded_newlines():
    text = (
        '\ufeffemail,note\r\n\r\na@example.com,"line one\r\nline two"\r\n'
        '  \r\n"b@example.com","say ""hi"""\r\n'
    )
    _, header, records = read(text)
    assert header == ["email", "note"]
    assert [(r.number, r.fields) for r in records] == [
        (1, ["a@example.com", "line one\r\nline two"]),
        (2, ["b@example.com", 'say "hi"']),
    ]


def test_header_cells_are_trimmed_and_a_header_only_file_has_no_rows():
    _, header, records = read(" email , name\n")
    assert header == ["email", "name"]
    assert records == []


def test_empty_and_binary_files_are_refused():
    with pytest.raises(CsvFileError, match="empty"):
        read("")
    with pytest.raises(CsvFileError, match="empty"):
        read("\n\n")
    with pytest.raises(CsvFileError, match="binary"):
        read("email\x00,name\n")
    with pytest.raises(CsvFileError, match="no column names"):
        read(",,\n1,2,3\n")


def test_syntax_errors_are_bad_rows_and_reading_goes_on():
    _, _, records = read('email,name\n"a@example.com"x,Ann\nb@example.com,Bob\nc@example.com,"Cy\n')
    assert records[0].error.startswith("A closing quote is followed by other characters")
    assert records[1].fields == ["b@example.com", "Bob"]
    assert records[2].error == "A quoted field is never closed (the file ends at line 4)."
    assert [r.number for r in records] == [1, 2, 3]


def test_a_huge_field_is_one_bad_row():
    _, _, records = read("email,note\na@example.com," + "x" * 200_000 + "\nb@example.com,ok\n")
    assert "larger than" in records[0].error
    assert records[1].fields == ["b@example.com", "ok"]


def test_a_long_file_is_read_past_the_sniffing_sample():
    rows = "".join(f"user{n}@example.com;{n}\n" for n in range(20_000))
    _, header, records = read("email;n\n" + rows)
    assert header == ["email", "n"]
    assert len(records) == 20_000
    assert records[-1].fields == ["user19999@example.com", "19999"]
    assert all(len(record.fields) == 2 for record in records)


def test_encodings_and_workbooks():
    assert detect_encoding([b"\xef\xbb\xbfemail\n", "Zoë".encode()]) == "utf-8-sig"
    assert detect_encoding([b"name\n", "Zoë".encode("cp1252")]) == "cp1252"
    # A multi-byte character split across two chunks is still UTF-8.
    assert detect_encoding([b"name\nZo\xc3", b"\xab\n"]) == "utf-8-sig"
    assert detect_encoding(["email\tname\nzoë@example.com\tZoë\n".encode("utf-16")]) == "utf-16"
    with pytest.raises(CsvFileError, match="not valid UTF-16"):
        detect_encoding([b"\xff\xfea\x00b"])
    with pytest.raises(CsvFileError, match="Excel workbook"):
        detect_encoding([b"PK\x03\x04rest"])
    # A stray NUL is a bad row later, not a binary file.
    text = b"email,name\n" + b"a@example.com,xy\n" * 10 + b"b@example.com,x\x00y\n"
    assert detect_encoding([text]) == "utf-8-sig"
    with pytest.raises(CsvFileError, match="binary"):
        detect_encoding([b"a,b\n\x00\x01"])


def test_file_size_limits():
    check_file_size(10)
    with pytest.raises(CsvFileError, match="empty"):
        check_file_size(0)
    with pytest.raises(CsvFileError, match=r"2\.0 MB, larger than the 1 MB limit"):
        check_file_size(2 * 1024 * 1024, limit=1024 * 1024)
    assert csv_import.MAX_FILE_BYTES == 100 * 1024 * 1024


def test_row_values_for_reports():
    assert row_values(["a", "b"], ["1", "2", "3"]) == {"a": "1", "b": "2", "(extra 1)": "3"}
    assert row_values(["a", "b", "c"], ["1"]) == {"a": "1"}
    assert row_values(["a", "", "a"], ["1", "2", "3"]) == {
        "a": "1",
        "(column 2)": "2",
        "a (column 3)": "3",
    }


# --- Rows into messages -------------------------------------------------------------------------


def test_a_profile_row_becomes_an_identify_message():
    fields = ["CRM-1", " Ann ", "ann@example.com", "07700 900123", "York", "Yes"]
    message = row_message(crm_plan(), fields, row_number=7, file_sha256=SHA)
    mid = f"csv-{SHA[:40]}-7"
    assert message == {
        "type": "identify",
        "messageId": mid,
        "anonymousId": mid,
        "traits": {
            "crm_id": "CRM-1",
            "firstName": "Ann",
            "email": "ann@example.com",
            "phone": "07700 900123",
            "address": {"city": "York"},
        },
        "context": {
            "externalIds": [
                {"id": "CRM-1", "type": "crm_id", "collection": "users", "encoding": "none"},
                {
                    "id": "ann@example.com",
                    "type": "email",
                    "collection": "users",
                    "encoding": "none",
                },
                {"id": "07700 900123", "type": "phone", "collection": "users", "encoding": "none"},
            ],
            "csvImport": {"sha256": SHA, "row": 7},
            "consent": {"categoryPreferences": {"email_marketing": True}},
        },
    }


def test_empty_cells_are_left_out():
    message = row_message(
        crm_plan(), ["", "", "ann@example.com", "", "", ""], row_number=1, file_sha256=SHA
    )
    assert message["traits"] == {"email": "ann@example.com"}
    assert [item["type"] for item in message["context"]["externalIds"]] == ["email"]
    assert "consent" not in message["context"]


def test_user_id_anonymous_id_and_device_id_go_to_their_own_places():
    header = ["uid", "anon", "device", "email"]
    plan = plan_mapping(
        {
            "uid": "identifier:user_id",
            "anon": "identifier:anonymous_id",
            "device": "identifier:device_id",
            "email": "identifier:email",
        },
        header,
    )
    message = row_message(plan, ["u1", "a1", "d1", "x@example.com"], row_number=1, file_sha256=SHA)
    assert message["userId"] == "u1"
    assert message["anonymousId"] == "a1"
    assert message["context"]["device"] == {"id": "d1"}
    assert message["traits"] == {"email": "x@example.com"}
    assert [item["type"] for item in message["context"]["externalIds"]] == [
        "user_id",
        "anonymous_id",
        "device_id",
        "email",
    ]
    only_user = row_message(plan, ["u1", "", "", ""], row_number=2, file_sha256=SHA)
    assert only_user["userId"] == "u1"
    assert "anonymousId" not in only_user


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("yes", True),
        ("YES", True),
        ("true", True),
        ("1", True),
        ("Granted", True),
        ("no", False),
        ("False", False),
        ("0", False),
        ("denied", False),
    ],
)
def test_consent_values(value, expected):
    fields = ["CRM-1", "", "", "", "", value]
    message = row_message(crm_plan(), fields, row_number=1, file_sha256=SHA)
    assert message["context"]["consent"] == {"categoryPreferences": {"email_marketing": expected}}


def test_a_bad_consent_value_names_the_column_and_value():
    error = row_error(crm_plan(), ["CRM-1", "", "", "", "", "maybe"])
    assert error.code == "invalid_consent"
    assert error.reason.startswith(
        "Column 'email_opt_in' (consent:email_marketing): 'maybe' is not a consent value"
    )


def test_a_row_without_any_identifier_names_the_identifier_columns():
    error = row_error(crm_plan(), ["", "Ann", " ", "", "York", "yes"])
    assert error.code == "missing_identity"
    assert error.reason == (
        "No identifier: the identifier columns 'crm_id', 'email', 'phone' are all empty."
    )
    plan = plan_mapping({"email": "identifier:email"}, ["email"])
    assert row_error(plan, [""]).reason == "No identifier: the identifier column 'email' is empty."


def test_a_row_with_the_wrong_number_of_fields():
    error = row_error(crm_plan(), ["CRM-1", "Ann"])
    assert error.code == "wrong_field_count"
    assert error.reason.startswith("The row has 2 fields but the header has 6")
    assert "unquoted comma" in error.reason
    plan = plan_mapping(CRM_MAPPING, CRM_HEADER, delimiter=";")
    assert "unquoted semicolon" in row_error(plan, ["a"] * 7).reason


def test_an_event_row_becomes_a_track_message_with_numbers():
    fields = [
        "T-1",
        "2025-03-01T14:30:00Z",
        "ann@example.com",
        "Order Completed",
        "69.00",
        "3",
        "007",
    ]
    message = row_message(pos_plan(), fields, row_number=2, file_sha256=SHA)
    assert message["type"] == "track"
    assert message["event"] == "Order Completed"
    assert message["timestamp"] == "2025-03-01T14:30:00+00:00"
    assert message["properties"] == {"order_id": "T-1", "revenue": 69.0, "items": 3, "till": "007"}
    assert message["context"]["traits"] == {"email": "ann@example.com"}
    assert "traits" not in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("3.50", 3.5),
        ("-0.25", -0.25),
        ("007", "007"),
        ("+44", "+44"),
        ("1,234.50", "1,234.50"),
        ("12,50", "12,50"),
        ("1e5", "1e5"),
        (".5", ".5"),
        ("5.", "5."),
        ("9007199254740991", 9007199254740991),
        ("9007199254740992", "9007199254740992"),
        ("12345678901234567890123", "12345678901234567890123"),
        ("NaN", "NaN"),
        ("T-100", "T-100"),
    ],
)
def test_numbers_in_property_columns(value, expected):
    result = number_or_text(value)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-03-01", "2025-03-01T00:00:00+00:00"),
        ("2025-03-01 14:30", "2025-03-01T14:30:00+00:00"),
        ("2025-03-01T14:30:00+01:00", "2025-03-01T13:30:00+00:00"),
        ("1740839400", "2025-03-01T14:30:00+00:00"),
        ("1740839400123", "2025-03-01T14:30:00.123000+00:00"),
    ],
)
def test_timestamps(value, expected):
    fields = ["T-1", value, "ann@example.com", "Order Completed", "", "", ""]
    message = row_message(pos_plan(), fields, row_number=1, file_sha256=SHA)
    assert message["timestamp"] == expected


@pytest.mark.parametrize("value", ["01/03/2025", "yesterday", "2025-13-01", "20250301"])
def test_a_bad_timestamp_names_the_column_and_value(value):
    error = row_error(pos_plan(), ["T-1", value, "ann@example.com", "Order Completed", "", "", ""])
    assert error.code == "invalid_timestamp"
    assert error.reason.startswith(f"Column 'when' (event:timestamp): {value!r} is not a date-time")


def test_empty_event_name_and_time_are_errors_and_all_problems_are_given():
    error = row_error(pos_plan(), ["T-1", "", "", "", "", "", ""])
    assert error.code == "missing_identity"
    assert "No identifier" in error.reason
    assert "Column 'when' (event:timestamp) is empty" in error.reason
    assert "Column 'event' (event:name) is empty" in error.reason


def test_an_event_file_without_a_time_column_leaves_the_time_to_the_collector():
    plan = plan_mapping({"email": "identifier:email", "event": "event:name"}, ["email", "event"])
    message = row_message(plan, ["a@example.com", "Called"], row_number=1, file_sha256=SHA)
    assert "timestamp" not in message
    assert message["properties"] == {}


def test_message_ids_are_deterministic_per_file_and_row():
    fields = ["CRM-1", "Ann", "", "", "", ""]
    first = row_message(crm_plan(), fields, row_number=3, file_sha256=SHA)
    again = row_message(crm_plan(), fields, row_number=3, file_sha256=SHA)
    other_row = row_message(crm_plan(), fields, row_number=4, file_sha256=SHA)
    other_file = row_message(crm_plan(), fields, row_number=3, file_sha256="cd" * 32)
    assert first["messageId"] == again["messageId"] == message_id(SHA, 3)
    assert len({first["messageId"], other_row["messageId"], other_file["messageId"]}) == 3
    assert len(first["messageId"]) <= 255


def test_messages_pass_the_collection_validator():
    rows = [
        (crm_plan(), ["CRM-1", "Ann", "ann@example.com", "", "York", "no"]),
        (pos_plan(), ["T-1", "2025-03-01", "ann@example.com", "Order Completed", "5", "1", ""]),
    ]
    messages = [
        row_message(plan, fields, row_number=n, file_sha256=SHA)
        for n, (plan, fields) in enumerate(rows, 1)
    ]
    received = datetime(2025, 6, 1, tzinfo=UTC)
    prepared, rejected = prepare_messages(
        {"batch": messages}, endpoint="import", received_at=received
    )
    assert rejected == []
    identify, track = prepared
    assert identify.traits["address"] == {"city": "York"}
    assert identify.consent == {"email_marketing": False}
    assert identify.timestamp == received
    assert track.event == "Order Completed"
    assert track.properties["revenue"] == 5
    assert track.timestamp == datetime(2025, 3, 1, tzinfo=UTC)
    assert track.traits == {"email": "ann@example.com"}
