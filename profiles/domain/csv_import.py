"""Turn a CSV file of offline records into Segment-Spec messages.

Pure module: no Django, ORM or settings. A mapping says what each column is (`COLUMN=TARGET`):

- `identifier:TYPE` (email, phone, user_id, anonymous_id, loyalty_id, device_id, crm_id or any
  other lowercase name): who the row is about;
- `trait:NAME` (a dotted NAME such as `address.city` nests into an object);
- `consent:PURPOSE` (yes/no, true/false, 1/0, granted/denied; empty means unknown);
- `event:name`, `event:timestamp`, `event:property:NAME`.

A file without event columns gives one identify message per row, a file with them one track
message per row. Every identifier is sent twice: as a trait (`email`, `phone`, `crm_id`...) and in
`context.externalIds`, so the identity step sees all of them. Only `identifier:user_id` becomes the
`userId` and only `identifier:anonymous_id` the `anonymousId`; a row with neither gets its own
message id as `anonymousId` (the Segment Spec needs one of the two).
Identifier values are checked against their identity types' rules (given as data): a row whose
identifiers would all be refused by the identity step is rejected (`invalid_identifier`); a row
with some refused and one usable is kept with a warning.
Message ids come from the file's sha256 and the row number: importing the same file again stores
nothing twice (events are unique on (source, messageId)).
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import itertools
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TextIO

from profiles.domain.identity import TypeRule, is_blocked, normalise
from profiles.domain.messages import parse_timestamp

MAX_FILE_BYTES = 100 * 1024 * 1024
SNIFF_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t")
KNOWN_IDENTIFIERS = (
    "email",
    "phone",
    "user_id",
    "anonymous_id",
    "loyalty_id",
    "device_id",
    "crm_id",
)
# Identifiers that are not copied into traits: they have their own places in the message.
_NOT_TRAITS = frozenset({"user_id", "anonymous_id", "device_id"})
CONSENT_VALUES = {
    "yes": True,
    "true": True,
    "1": True,
    "granted": True,
    "no": False,
    "false": False,
    "0": False,
    "denied": False,
}
INVALID_IDENTIFIER = "invalid_identifier"
# What a value of each normaliser must look like, for the reasons given to people.
_ACCEPTED = {
    "email": "an email address such as jane@example.com",
    "phone": "a phone number in international form (+44 20 7946 0958) or national form",
}
MAX_SAFE_INTEGER = 2**53 - 1  # beyond this, JavaScript readers of the JSON lose digits

_IDENTIFIER_TYPE = re.compile(r"[a-z_]+")
_TRAIT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_PURPOSE = re.compile(r"[a-z][a-z0-9_]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?")
_EPOCH_DIGITS = re.compile(r"\d{9,13}")
_TARGET_HELP = (
    "use identifier:TYPE, trait:NAME, consent:PURPOSE, event:name, event:timestamp "
    "or event:property:NAME"
)
_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


class CsvFileError(Exception):
    """The file as a whole cannot be imported (empty, binary, too large, unreadable header)."""


class MappingError(Exception):
    """The mapping does not fit the file; `problems` lists every reason, one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(" ".join(problems))
        self.problems = problems


class RowError(Exception):
    """One row cannot become a message; `reason` names the columns and values at fault."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class RowWarning:
    """A row that is imported, but with a problem the user should hear about."""

    code: str
    reason: str


@dataclass(frozen=True, slots=True)
class Converted:
    """One row as its message, with the warnings that did not stop it."""

    message: dict[str, Any]
    warnings: tuple[RowWarning, ...] = ()


class Kind(StrEnum):
    IDENTIFIER = "identifier"
    TRAIT = "trait"
    CONSENT = "consent"
    EVENT_NAME = "event:name"
    EVENT_TIMESTAMP = "event:timestamp"
    EVENT_PROPERTY = "event:property"


@dataclass(frozen=True, slots=True)
class Target:
    """What one column holds."""

    kind: Kind
    name: str = ""

    def __str__(self) -> str:
        if self.kind in (Kind.EVENT_NAME, Kind.EVENT_TIMESTAMP):
            return self.kind.value
        return f"{self.kind.value}:{self.name}"

    @property
    def is_event(self) -> bool:
        return self.kind in (Kind.EVENT_NAME, Kind.EVENT_TIMESTAMP, Kind.EVENT_PROPERTY)


@dataclass(frozen=True, slots=True)
class Column:
    index: int
    name: str
    target: Target

    def label(self) -> str:
        return f"Column {self.name!r} ({self.target})"


@dataclass(frozen=True, slots=True)
class Plan:
    """A mapping checked against a header: the mapped columns, in file order."""

    header: tuple[str, ...]
    columns: tuple[Column, ...]
    delimiter: str = ","

    @property
    def is_track(self) -> bool:
        return any(column.target.is_event for column in self.columns)

    def as_mapping(self) -> dict[str, str]:
        return {column.name: str(column.target) for column in self.columns}


@dataclass(frozen=True, slots=True)
class Record:
    """One CSV record: number 0 is the header, 1 the first data row; blank lines are skipped."""

    number: int
    fields: list[str]
    error: str | None = None  # a CSV syntax problem: the record could not be read


@dataclass(slots=True)
class CsvFile:
    """An opened CSV text: its delimiter, its header and an iterator over its data records."""

    delimiter: str
    header: list[str]
    records: Iterator[Record]


# --- Mapping ------------------------------------------------------------------------------------


def parse_target(text: str) -> Target:
    """Parse one TARGET such as `identifier:email`, `trait:address.city` or `event:name`."""
    value = text.strip()
    prefix, _, rest = value.partition(":")
    if prefix == "identifier":
        if not _IDENTIFIER_TYPE.fullmatch(rest):
            raise ValueError(
                f"Identifier type {rest!r} in {value!r} must be lowercase letters and _ "
                f"(such as {', '.join(KNOWN_IDENTIFIERS)})."
            )
        return Target(Kind.IDENTIFIER, rest)
    if prefix == "trait":
        if not _TRAIT_NAME.fullmatch(rest):
            raise ValueError(
                f"Trait name {rest!r} in {value!r} must be letters, digits and _, "
                "with dots for nested traits (trait:address.city)."
            )
        return Target(Kind.TRAIT, rest)
    if prefix == "consent":
        if not _PURPOSE.fullmatch(rest):
            raise ValueError(
                f"Consent purpose {rest!r} in {value!r} must be lowercase letters, digits and _ "
                "(consent:email_marketing)."
            )
        return Target(Kind.CONSENT, rest)
    if prefix == "event":
        if rest == "name":
            return Target(Kind.EVENT_NAME)
        if rest == "timestamp":
            return Target(Kind.EVENT_TIMESTAMP)
        kind, _, name = rest.partition(":")
        if kind == "property":
            if not name.strip() or name != name.strip() or len(name) > 255:
                raise ValueError(f"Property name in {value!r} must be 1 to 255 characters.")
            return Target(Kind.EVENT_PROPERTY, name)
    raise ValueError(f"Unknown target {value!r}: {_TARGET_HELP}.")


def parse_mapping_args(items: Iterable[str]) -> dict[str, str]:
    """Turn `COLUMN=TARGET` strings (as given on a command line) into a mapping."""
    mapping: dict[str, str] = {}
    for item in items:
        column, sep, target = item.rpartition("=")
        if not sep or not column.strip() or not target.strip():
            raise MappingError([f"{item!r} is not COLUMN=TARGET."])
        column = column.strip()
        if column in mapping:
            raise MappingError([f"Column {column!r} is mapped twice."])
        mapping[column] = target.strip()
    return mapping


def plan_mapping(
    mapping: Mapping[str, str], header: Sequence[str], *, delimiter: str = ","
) -> Plan:
    """Check a column → target mapping against a file's header; every problem is reported."""
    problems: list[str] = []
    columns: list[Column] = []
    positions = {name: index for index, name in reversed(list(enumerate(header)))}
    by_target: dict[str, str] = {}
    for column, text in mapping.items():
        if not text:
            continue  # an unmapped column
        try:
            target = parse_target(text)
        except ValueError as exc:
            problems.append(f"Column {column!r}: {exc}")
            continue
        if column not in positions:
            problems.append(_unknown_column(column, header))
            continue
        if (count := list(header).count(column)) > 1:
            problems.append(
                f"Column {column!r} appears {count} times in the header; rename one to map it."
            )
            continue
        if (other := by_target.get(str(target))) is not None:
            problems.append(f"Columns {other!r} and {column!r} are both mapped to {target}.")
            continue
        by_target[str(target)] = column
        columns.append(Column(positions[column], column, target))
    columns.sort(key=lambda column: column.index)
    problems += _trait_conflicts(columns)
    if not problems:
        if not columns:
            problems.append("Map at least one column.")
        elif not any(column.target.kind == Kind.IDENTIFIER for column in columns):
            problems.append(
                "Map at least one column to an identifier (identifier:email, identifier:user_id, "
                "...): each row must say whom it is about."
            )
        kinds = {column.target.kind for column in columns}
        if kinds & {Kind.EVENT_TIMESTAMP, Kind.EVENT_PROPERTY} and Kind.EVENT_NAME not in kinds:
            problems.append(
                "event:timestamp and event:property columns need a column mapped to event:name."
            )
    if problems:
        raise MappingError(problems)
    return Plan(tuple(header), tuple(columns), delimiter)


def _unknown_column(column: str, header: Sequence[str]) -> str:
    names = [name for name in header if name]
    close = difflib.get_close_matches(column, names, n=1, cutoff=0.6) or [
        name for name in names if name.lower() == column.lower()
    ]
    hint = f" Did you mean {close[0]!r}?" if close else ""
    listed = ", ".join(repr(name) for name in names) or "none"
    return f"Unknown column {column!r}: the file's columns are {listed}.{hint}"


def _trait_key(column: Column) -> str | None:
    target = column.target
    if target.kind == Kind.TRAIT:
        return target.name
    if target.kind == Kind.IDENTIFIER and target.name not in _NOT_TRAITS:
        return target.name
    return None


def _trait_conflicts(columns: list[Column]) -> list[str]:
    """Two columns writing the same trait, or a trait and a trait nested inside it."""
    problems = []
    keyed = [(key, column) for column in columns if (key := _trait_key(column)) is not None]
    for (key, column), (other_key, other) in itertools.combinations(keyed, 2):
        if key == other_key or key.startswith(other_key + ".") or other_key.startswith(key + "."):
            problems.append(
                f"Columns {column.name!r} ({column.target}) and {other.name!r} ({other.target}) "
                f"both set the trait {min(key, other_key, key=len)!r}."
            )
    return problems


# --- Suggestions --------------------------------------------------------------------------------

_SUGGESTED_IDENTIFIERS = {
    "email": ("email", "e_mail", "email_address", "customer_email", "mail"),
    "phone": (
        "phone",
        "phone_number",
        "mobile",
        "mobile_number",
        "telephone",
        "tel",
        "customer_phone",
        "caller_phone",
        "cell",
    ),
    "user_id": ("user_id", "userid", "customer_id", "account_id"),
    "anonymous_id": ("anonymous_id", "anonymousid", "anon_id", "cookie_id"),
    "loyalty_id": ("loyalty_id", "loyalty", "loyalty_card", "loyalty_number", "card_number"),
    "device_id": ("device_id", "deviceid", "idfa", "gaid", "advertising_id"),
    "crm_id": ("crm_id", "crmid", "contact_id", "crm_contact_id"),
}
_SUGGESTED_TRAITS = {
    "firstName": ("first_name", "firstname", "given_name", "forename"),
    "lastName": ("last_name", "lastname", "surname", "family_name"),
    "name": ("name", "full_name", "fullname", "customer_name"),
    "birthday": ("birthday", "date_of_birth", "dob", "birth_date", "birthdate"),
    "gender": ("gender", "sex"),
    "title": ("title", "salutation"),
    "company": ("company", "company_name", "organisation", "organization"),
    "address.street": ("address", "street", "address_line1", "address_line_1", "street_address"),
    "address.city": ("city", "town"),
    "address.postalCode": ("postcode", "post_code", "postal_code", "zip", "zip_code", "zipcode"),
    "address.state": ("state", "county", "region"),
    "address.country": ("country",),
    "createdAt": ("created_at", "created_date", "created", "signup_date", "registered_at"),
}
_SUGGESTED_EVENT = {
    "event:name": ("event", "event_name", "event_type", "activity", "action"),
    "event:timestamp": (
        "timestamp",
        "time",
        "event_time",
        "datetime",
        "date_time",
        "occurred_at",
        "date",
    ),
}
_CONSENT_STEMS = {
    "email": "email_marketing",
    "newsletter": "email_marketing",
    "marketing": "email_marketing",
    "email_marketing": "email_marketing",
    "sms": "sms",
    "text": "sms",
    "ads": "advertising",
    "advertising": "advertising",
    "analytics": "analytics",
    "personalisation": "personalisation",
    "personalization": "personalisation",
}
_CONSENT_AFFIXES = (
    re.compile(r"(?P<stem>[a-z0-9_]+?)_(?:opt_?in|optin|consent|permission|ok)"),
    re.compile(r"(?:opt_?in|consent)_(?P<stem>[a-z0-9_]+)"),
)


def _normalise_name(column: str) -> str:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column.strip())
    return re.sub(r"[^a-z0-9]+", "_", spaced.lower()).strip("_")


def _lookup(table: Mapping[str, tuple[str, ...]], key: str) -> str | None:
    return next((value for value, names in table.items() if key in names), None)


def suggest_target(column: str, *, events: bool) -> str:
    """A likely target for a column, from its name; `events`: the file has an event column."""
    key = _normalise_name(column)
    if not key:
        return ""
    if (found := _lookup(_SUGGESTED_IDENTIFIERS, key)) is not None:
        return f"identifier:{found}"
    if events and (found := _lookup(_SUGGESTED_EVENT, key)) is not None:
        return found
    for pattern in _CONSENT_AFFIXES:
        if match := pattern.fullmatch(key):
            stem = match["stem"]
            return f"consent:{_CONSENT_STEMS.get(stem, stem)}"
    if not events and (found := _lookup(_SUGGESTED_TRAITS, key)) is not None:
        return f"trait:{found}"
    if events:
        return f"event:property:{column.strip()}"
    return f"trait:{_camel(key)}"


def suggest_mapping(header: Sequence[str]) -> dict[str, str]:
    """A suggested target for every column (empty string: none)."""
    keys = {_normalise_name(column) for column in header}
    events = bool(keys & set(_SUGGESTED_EVENT["event:name"]))
    return {column: suggest_target(column, events=events) for column in header if column}


def _camel(key: str) -> str:
    first, *rest = key.split("_")
    name = first + "".join(part.capitalize() for part in rest)
    return name if _TRAIT_NAME.fullmatch(name) else f"_{name}"


# --- Reading the file ---------------------------------------------------------------------------


def check_file_size(size: int, limit: int = MAX_FILE_BYTES) -> None:
    """Refuse a file larger than `limit` bytes, or an empty one."""
    if size == 0:
        raise CsvFileError("The file is empty.")
    if size > limit:
        raise CsvFileError(
            f"The file is {size / 1024 / 1024:.1f} MB, larger than the "
            f"{limit / 1024 / 1024:.0f} MB limit; split it into smaller files."
        )


def detect_encoding(chunks: Iterable[bytes]) -> str:
    """`utf-8-sig` when every byte is UTF-8 (a BOM is dropped), `utf-16` for Excel's "Unicode
    text" (it starts with a UTF-16 byte order mark), else Windows-1252 (Excel's "CSV")."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    encoding = "utf-8-sig"
    first = True
    try:
        for chunk in chunks:
            if first:
                first = False
                if chunk.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                    encoding = "utf-16"
                    decoder = codecs.getincrementaldecoder("utf-16")()
                else:
                    _check_text(chunk)
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        if encoding == "utf-16":
            raise CsvFileError("The file starts as UTF-16 text but is not valid UTF-16.") from None
        return "cp1252"
    return encoding


def _looks_binary(head: bytes | str) -> bool:
    """NUL characters in more than 1% of the start: binary data, not text (a stray one is a
    bad row, reported as such)."""
    nul = b"\x00" if isinstance(head, bytes) else "\x00"
    sample = head[:SNIFF_BYTES]
    return sample.count(nul) * 100 > len(sample)  # type: ignore[arg-type]


def _check_text(head: bytes) -> None:
    if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
        raise CsvFileError(
            "This looks like an Excel workbook, not a CSV file: save it as CSV (UTF-8) first."
        )
    if _looks_binary(head):
        raise CsvFileError("This is not a CSV text file (it contains binary data).")


def sniff_delimiter(sample: str) -> str:
    """The delimiter (comma, semicolon or tab) that splits the first lines most consistently."""
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
        try:
            rows = [row for row in itertools.islice(reader, 50) if row]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(row) == width for row in rows[1:]) + 1, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def open_csv(stream: TextIO) -> CsvFile:
    """Sniff the delimiter from the start of a text stream and read its header."""
    sample = stream.read(SNIFF_BYTES)
    if len(sample) == SNIFF_BYTES:
        sample += stream.readline()  # end the sample on a line boundary
    sample = sample.removeprefix("\ufeff")
    if _looks_binary(sample):
        raise CsvFileError("This is not a CSV text file (it contains binary data).")
    delimiter = sniff_delimiter(sample)
    lines = itertools.chain(io.StringIO(sample, newline=""), stream)
    records = iter_records(lines, delimiter)
    header = next(records, None)
    if header is None:
        raise CsvFileError("The file is empty: there is no header row.")
    if header.error:
        raise CsvFileError(f"The header row cannot be read: {header.error}")
    names = [name.strip() for name in header.fields]
    if not any(names):
        raise CsvFileError("The header row has no column names.")
    return CsvFile(delimiter, names, records)


def iter_records(lines: Iterable[str], delimiter: str) -> Iterator[Record]:
    """Yield every non-blank record, numbered from 0 (the header); a syntax error is one bad
    record and reading goes on after it."""
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    number = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Record(number, [], _csv_problem(str(exc), reader.line_num))
            number += 1
            continue
        if not fields or (len(fields) == 1 and not fields[0].strip()):
            continue  # a blank line
        yield Record(number, fields)
        number += 1


def _csv_problem(message: str, line: int) -> str:
    if "field larger than field limit" in message:
        return f"A field near line {line} is larger than {csv.field_size_limit()} characters."
    if "unexpected end of data" in message:
        return f"A quoted field is never closed (the file ends at line {line})."
    if "expected after" in message:
        return f"A closing quote is followed by other characters on line {line} ({message})."
    return f"The row near line {line} cannot be read: {message}."


def row_values(header: Sequence[str], fields: Sequence[str]) -> dict[str, str]:
    """A record as {column: value}, for reports; extra fields are kept as "(extra N)"."""
    values: dict[str, str] = {}
    for index, value in enumerate(fields):
        if index >= len(header):
            key = f"(extra {index - len(header) + 1})"
        else:
            key = header[index] or f"(column {index + 1})"
            if key in values:
                key = f"{key} (column {index + 1})"
        values[key] = value
    return values


# --- Rows into messages -------------------------------------------------------------------------


def message_id(file_sha256: str, row_number: int) -> str:
    """The deterministic messageId of one row of one file."""
    return f"csv-{file_sha256[:40]}-{row_number}"


def row_message(
    plan: Plan,
    fields: Sequence[str],
    *,
    row_number: int,
    file_sha256: str,
    rules: Mapping[str, TypeRule] | None = None,
) -> dict[str, Any]:
    """One data row as a Segment-Spec identify or track message; RowError when it cannot be."""
    return row_convert(
        plan, fields, row_number=row_number, file_sha256=file_sha256, rules=rules or {}
    ).message


def row_convert(
    plan: Plan,
    fields: Sequence[str],
    *,
    row_number: int,
    file_sha256: str,
    rules: Mapping[str, TypeRule],
) -> Converted:
    """One data row as its message and warnings; RowError when it cannot be a message.

    Each identifier is checked against its identity type's rule (`rules`, by type name; a type
    without a rule is not checked): a row whose identifiers are all refused (invalid or blocked)
    is rejected, since the identity step would drop them and leave an orphan profile; a row with
    at least one usable identifier is kept, with a warning naming the refused ones.
    """
    if len(fields) != len(plan.header):
        delimiter = _DELIMITER_NAMES.get(plan.delimiter, repr(plan.delimiter))
        raise RowError(
            "wrong_field_count",
            f"The row has {len(fields)} fields but the header has {len(plan.header)}: "
            f"check for an unquoted {delimiter} or a missing quote.",
        )
    problems: list[tuple[str, str]] = []
    identifiers: list[tuple[str, str]] = []
    identifier_columns: list[Column] = []
    refused: list[str] = []
    traits: dict[str, Any] = {}
    consent: dict[str, bool] = {}
    properties: dict[str, Any] = {}
    event: str | None = None
    timestamp: str | None = None
    for column in plan.columns:
        value = fields[column.index].strip()
        target = column.target
        if target.kind == Kind.IDENTIFIER:
            identifier_columns.append(column)
            if value:
                identifiers.append((target.name, value))
                if (problem := _refused(column, value, rules.get(target.name))) is not None:
                    refused.append(problem)
                if target.name not in _NOT_TRAITS:
                    _set_path(traits, target.name, value)
        elif target.kind == Kind.TRAIT:
            if value:
                _set_path(traits, target.name, value)
        elif target.kind == Kind.CONSENT:
            if value:
                flag = CONSENT_VALUES.get(value.lower())
                if flag is None:
                    problems.append(
                        (
                            "invalid_consent",
                            f"{column.label()}: {value!r} is not a consent value; use yes/no, "
                            "true/false, 1/0 or granted/denied (or leave it empty).",
                        )
                    )
                else:
                    consent[target.name] = flag
        elif target.kind == Kind.EVENT_NAME:
            if value:
                event = value
            else:
                problems.append(
                    ("missing_event", f"{column.label()} is empty: each row needs an event name.")
                )
        elif target.kind == Kind.EVENT_TIMESTAMP:
            if not value:
                reason = f"{column.label()} is empty: each event needs its time."
                problems.append(("invalid_timestamp", reason))
                continue
            try:
                timestamp = _timestamp(value)
            except ValueError:
                reason = (
                    f"{column.label()}: {value!r} is not a date-time; use ISO 8601 "
                    "(2025-03-01T14:30:00Z) or epoch seconds or milliseconds."
                )
                problems.append(("invalid_timestamp", reason))
        elif value:
            properties[target.name] = number_or_text(value)
    if not identifiers:
        named = ", ".join(repr(column.name) for column in identifier_columns)
        problems.insert(
            0,
            (
                "missing_identity",
                f"No identifier: the identifier column{'s' if len(identifier_columns) > 1 else ''} "
                f"{named} {'are all' if len(identifier_columns) > 1 else 'is'} empty.",
            ),
        )
    elif len(refused) == len(identifiers):
        reason = f"{'; '.join(refused)}; no other usable identifier on the row."
        problems.insert(0, (INVALID_IDENTIFIER, reason))
    if problems:
        raise RowError(problems[0][0], " ".join(reason for _, reason in problems))
    warnings: tuple[RowWarning, ...] = ()
    if refused:
        # The message keeps the refused values too: the identity step drops them anyway, and
        # records each on the profile's ledger as a dropped identifier ("invalid_value"), so
        # the profile shows what the file said instead of losing it here.
        warnings = (
            RowWarning(
                INVALID_IDENTIFIER,
                f"{'; '.join(refused)}. The row is imported on its other identifiers; "
                "the refused value is dropped by the identity step.",
            ),
        )

    by_type = dict(identifiers)  # one column per type: the mapping refuses duplicates
    mid = message_id(file_sha256, row_number)
    context: dict[str, Any] = {
        "externalIds": [
            {"id": value, "type": kind, "collection": "users", "encoding": "none"}
            for kind, value in identifiers
        ],
        "csvImport": {"sha256": file_sha256, "row": row_number},
    }
    if "device_id" in by_type:
        context["device"] = {"id": by_type["device_id"]}
    if consent:
        context["consent"] = {"categoryPreferences": consent}
    message: dict[str, Any] = {"type": "track" if plan.is_track else "identify", "messageId": mid}
    if "user_id" in by_type:
        message["userId"] = by_type["user_id"]
    if "anonymous_id" in by_type:
        message["anonymousId"] = by_type["anonymous_id"]
    elif "user_id" not in by_type:
        # A message needs a userId or an anonymousId. Without either column, the row's own id:
        # unique, so it links the row to no one else. An email or a CRM id would not do as
        # userId: the identity step takes userId as the verified, one-per-profile user_id.
        message["anonymousId"] = mid
    if plan.is_track:
        message["event"] = event
        message["properties"] = properties
        if timestamp is not None:
            message["timestamp"] = timestamp
        if traits:
            context["traits"] = traits
    else:
        message["traits"] = traits
    message["context"] = context
    return Converted(message, warnings)


def _refused(column: Column, value: str, rule: TypeRule | None) -> str | None:
    """Why the identity step would refuse `value` under `rule`, naming the column and what it
    accepts; None if the value is usable (or its type has no rule to check against)."""
    if rule is None:
        return None
    try:
        normalised = normalise(rule, value)
    except ValueError as exc:
        reason = str(exc)
        problem = f"is {reason}" if reason.startswith("not ") else reason
        accepted = _ACCEPTED.get(rule.normaliser)
        if rule.normaliser == "phone" and rule.default_region:
            accepted = f"{accepted} (region {rule.default_region})"
        hint = f" (use {accepted})" if accepted else ""
        return f"{column.label()}: {value!r} {problem}{hint}"
    if is_blocked(rule, normalised):
        return (
            f"{column.label()}: {value!r} is a blocked placeholder value for {rule.name} "
            f"(use a real {rule.name} or leave it empty)"
        )
    return None


def _set_path(target: dict[str, Any], path: str, value: str) -> None:
    *parents, leaf = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def _timestamp(value: str) -> str:
    if _EPOCH_DIGITS.fullmatch(value):
        milliseconds = int(value) * (1000 if len(value) <= 10 else 1)
        return parse_timestamp(milliseconds).isoformat()
    return parse_timestamp(value).isoformat()


def number_or_text(value: str) -> int | float | str:
    """A plain decimal number becomes a number; anything else (leading zeros, a leading +,
    thousands separators, integers past 2**53) stays text."""
    if not _NUMBER.fullmatch(value):
        return value
    if "." not in value:
        number = int(value)
        return number if abs(number) <= MAX_SAFE_INTEGER else value
    parsed = float(value)
    return parsed if math.isfinite(parsed) else value
