import json
import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from profiles.demo.generator import (
    APP,
    CALLS_FILE,
    CONSENT_PURPOSES,
    CRM_FILE,
    EMAIL,
    IDENTIFIER_TYPES,
    JUNK_IDS,
    PAYMENTS,
    POS_FILE,
    SUPPORT,
    WEB,
    DemoDataset,
    generate,
)

NOW = datetime(2025, 6, 30, 14, 30, 15, 123456, tzinfo=UTC)
DAYS = 90
CUSTOMERS = 300
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z$")
E164_UK = re.compile(r"^\+44\d{10}$")


@pytest.fixture(scope="module")
def dataset() -> DemoDataset:
    return generate(customers=CUSTOMERS, days=DAYS, seed=11, now=NOW)


@pytest.fixture(scope="module")
def owner(dataset: DemoDataset) -> dict[tuple[str, Any], str]:
    """Who each record belongs to, by ("source", messageId) or ("file", name, row)."""
    owners = {}
    for person, entries in dataset.truth.items():
        for ref in entries[1:]:
            key = (
                (ref["source"], ref["messageId"]) if "source" in ref else (ref["file"], ref["row"])
            )
            owners[key] = person
    return owners


def all_messages(dataset: DemoDataset) -> list[tuple[str, dict[str, Any]]]:
    return [(source, m) for source, messages in dataset.messages.items() for m in messages]


def file_named(dataset: DemoDataset, name: str):
    return next(f for f in dataset.files if f.name == name)


def parse(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00"))


def test_same_inputs_give_the_same_dataset_and_another_seed_does_not() -> None:
    first = generate(customers=60, days=30, seed=5, now=NOW)
    second = generate(customers=60, days=30, seed=5, now=NOW)
    other = generate(customers=60, days=30, seed=6, now=NOW)

    assert first == second
    assert json.dumps(first.messages, sort_keys=True) == json.dumps(second.messages, sort_keys=True)
    assert [f.rows for f in first.files] == [f.rows for f in second.files]
    assert first.messages[WEB][0]["messageId"] != other.messages[WEB][0]["messageId"]
    assert file_named(first, CRM_FILE).rows != file_named(other, CRM_FILE).rows


def test_sources_are_named_with_their_kinds(dataset: DemoDataset) -> None:
    assert dataset.sources == {
        "Web store": "website",
        "Mobile app": "mobile_app",
        "Payments": "payments",
        "Support desk": "support",
        "Email engagement": "server",
        "POS": "pos",
        "CRM": "crm",
        "Call centre": "call_center",
    }
    assert set(dataset.messages) == set(dataset.sources)
    for source in (WEB, APP, PAYMENTS, SUPPORT, EMAIL):
        assert len(dataset.messages[source]) > 0, source
    assert {f.source_kind for f in dataset.files} == {"pos", "crm", "call_center"}
    assert len(set(dataset.sources.values())) == len(dataset.sources)  # kind finds the source


def test_messages_follow_the_segment_spec_basics(dataset: DemoDataset) -> None:
    ids = Counter()
    types = Counter()
    for source, message in all_messages(dataset):
        kind = message["type"]
        types[kind] += 1
        ids[message["messageId"]] += 1
        assert isinstance(message["messageId"], str) and len(message["messageId"]) == 36
        assert message.get("userId") or message.get("anonymousId"), message
        assert TIMESTAMP.match(message["timestamp"]), message["timestamp"]
        assert isinstance(message["context"], dict)
        if kind == "track":
            assert isinstance(message["event"], str) and message["event"]
            assert isinstance(message["properties"], dict)
        elif kind in ("page", "screen"):
            assert message["name"]
            assert (kind == "page") == (source == WEB), (source, kind)
        elif kind == "identify":
            assert isinstance(message["traits"], dict)
        elif kind == "group":
            assert message["groupId"].startswith("acct_") and message["traits"]["name"]
        else:
            assert kind == "alias"
            assert message["userId"] and message["previousId"] == message["anonymousId"]
    assert ids.most_common(1)[0][1] == 1
    assert set(types) == {"identify", "track", "page", "screen", "group", "alias"}


def test_web_and_app_messages_carry_their_client_context(dataset: DemoDataset) -> None:
    for message in dataset.messages[WEB]:
        assert message["context"]["ip"].count(".") == 3
        assert message["context"]["userAgent"].startswith("Mozilla/5.0")
        assert message["context"]["page"]["url"].startswith("https://")
    for message in dataset.messages[APP]:
        device = message["context"]["device"]
        assert device["id"] and device["type"] in ("ios", "android")
        assert "userAgent" not in message["context"]
    screens = [m for m in dataset.messages[APP] if m["type"] == "screen"]
    assert {"Home", "Product"} <= {m["name"] for m in screens}


def test_every_timestamp_is_within_the_window(dataset: DemoDataset) -> None:
    earliest, latest = NOW - timedelta(days=DAYS), NOW
    stamps = [m["timestamp"] for _, m in all_messages(dataset)]
    for demo_file in dataset.files:
        for column, target in demo_file.mapping.items():
            if target == "event:timestamp":
                stamps += [row[column] for row in demo_file.rows]
    assert len(stamps) > 10_000
    for stamp in stamps:
        assert TIMESTAMP.match(stamp), stamp
        assert earliest <= parse(stamp) <= latest, stamp
    parsed = sorted(parse(stamp) for stamp in stamps)
    assert parsed[-1] > NOW - timedelta(days=1)  # activity right up to now
    assert parsed[0] < earliest + timedelta(days=3)


def test_ground_truth_covers_every_record_exactly_once(dataset: DemoDataset) -> None:
    records = {(source, m["messageId"]) for source, m in all_messages(dataset)}
    records |= {(f.name, index) for f in dataset.files for index in range(len(f.rows))}
    seen: Counter[tuple[str, Any]] = Counter()
    for person, entries in dataset.truth.items():
        summary, refs = entries[0], entries[1:]
        assert set(summary) <= {"identifiers", "cohort", "duplicate_identifiers"}, person
        assert refs, f"{person} has no records"
        for ref in refs:
            seen[
                (ref["source"], ref["messageId"]) if "source" in ref else (ref["file"], ref["row"])
            ] += 1
    assert len(dataset.truth) == CUSTOMERS
    assert set(seen) == records
    assert set(seen.values()) == {1}


def test_truth_identifiers_are_clean_and_belong_to_one_person(dataset: DemoDataset) -> None:
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for person, entries in dataset.truth.items():
        identifiers = entries[0]["identifiers"]
        assert set(identifiers) <= {*IDENTIFIER_TYPES, "anonymous_id"}
        assert any(identifiers.values()), person
        for email in identifiers.get("email", []):
            assert email == email.strip().lower() and "@" in email
            assert email.split("@")[1] in ("example.com", "example.org", "example.net")
        for phone in identifiers.get("phone", []):
            assert E164_UK.match(phone), phone
        for id_type, values in identifiers.items():
            for value in values:
                assert value not in JUNK_IDS
                holders[(id_type, value)].append(person)
    assert max(len(people) for people in holders.values()) == 1
    types = {id_type for id_type, _ in holders}
    assert types == {*IDENTIFIER_TYPES, "anonymous_id"}


def test_anonymous_browsing_is_later_identified_on_the_same_anonymous_id(
    dataset: DemoDataset,
) -> None:
    first_seen: dict[str, str] = {}
    for message in dataset.messages[WEB]:  # sorted by timestamp
        if "anonymousId" in message and "userId" not in message:
            first_seen.setdefault(message["anonymousId"], message["timestamp"])
    joins = [
        m
        for m in dataset.messages[WEB]
        if m["type"] == "identify"
        and m.get("userId", "").startswith("usr_")
        and m["anonymousId"] in first_seen
        and first_seen[m["anonymousId"]] < m["timestamp"]
    ]
    assert len(joins) >= 20
    assert all("@" in m["traits"]["email"] for m in joins)


def test_noisy_emails_normalise_to_the_owners_clean_email(dataset, owner) -> None:
    raw: list[tuple[str, str]] = []
    for source, message in all_messages(dataset):
        email = (message.get("traits") or {}).get("email")
        if email and email not in JUNK_IDS:
            raw.append((email, owner[(source, message["messageId"])]))
    for name, column in ((CRM_FILE, "email"), (POS_FILE, "customer_email")):
        rows = file_named(dataset, name).rows
        raw += [(r[column], owner[(name, i)]) for i, r in enumerate(rows) if r[column]]
    raw = [(email, person) for email, person in raw if email != "test@example.com"]

    noisy = [email for email, _ in raw if email != email.strip().lower()]
    assert any(email != email.strip() for email in noisy)
    assert any(email.strip() == email.strip().upper() for email in noisy)
    assert len(noisy) >= 20
    for email, person in raw:
        assert email.strip().lower() in dataset.truth[person][0]["identifiers"]["email"]


def test_phone_numbers_come_in_many_formats_of_the_owners_number(dataset, owner) -> None:
    phonenumbers = pytest.importorskip("phonenumbers")
    raw: list[tuple[str, str]] = []
    for name, column in (
        (CRM_FILE, "phone"),
        (POS_FILE, "customer_phone"),
        (CALLS_FILE, "caller_phone"),
    ):
        rows = file_named(dataset, name).rows
        raw += [(r[column], owner[(name, i)]) for i, r in enumerate(rows) if r[column]]
    for source, message in all_messages(dataset):
        phone = (message.get("traits") or {}).get("phone")
        if phone:
            raw.append((phone, owner[(source, message["messageId"])]))

    assert len({re.sub(r"\d", "9", phone) for phone, _ in raw}) >= 6
    assert any(phone.startswith("(0)") or "(0)" in phone for phone, _ in raw)
    assert any(phone.startswith("07") for phone, _ in raw)
    assert any(phone.startswith("+44 ") for phone, _ in raw)
    for phone, person in raw:
        parsed = phonenumbers.parse(phone, "GB")
        e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
        assert e164 in dataset.truth[person][0]["identifiers"]["phone"], phone


def test_pos_rows_are_sometimes_identified_only_by_a_phone(dataset: DemoDataset) -> None:
    rows = file_named(dataset, POS_FILE).rows
    phone_only = [r for r in rows if r["customer_phone"] and not r["customer_email"]]
    phone_only = [r for r in phone_only if not r["loyalty_card"]]
    assert len(phone_only) >= 5
    assert all(r["customer_email"] or r["customer_phone"] or r["loyalty_card"] for r in rows)
    assert any(r["customer_phone"][:1] != "+" for r in phone_only)


def test_duplicates_share_no_identifier_but_postcode_and_birthday(dataset, owner) -> None:
    crm = file_named(dataset, CRM_FILE).rows
    rows_of: dict[str, list[dict[str, str]]] = defaultdict(list)
    for index, row in enumerate(crm):
        rows_of[owner[(CRM_FILE, index)]].append(row)
    duplicated = {p: e[0] for p, e in dataset.truth.items() if "duplicate_identifiers" in e[0]}

    assert len(duplicated) == round(CUSTOMERS * 0.03)
    for person, summary in duplicated.items():
        alt = {(t, v) for t, values in summary["duplicate_identifiers"].items() for v in values}
        everything = {(t, v) for t, values in summary["identifiers"].items() for v in values}
        main = everything - alt
        assert alt and main
        assert {t for t, _ in alt} & {"email", "crm_id"} == {"email", "crm_id"}
        assert len(rows_of[person]) == 2, person
        a, b = rows_of[person]
        assert a["crm_id"] != b["crm_id"]
        assert a["email"].strip().lower() != b["email"].strip().lower()
        assert a["date_of_birth"] == b["date_of_birth"]
        assert a["postcode"].replace(" ", "").upper() == b["postcode"].replace(" ", "").upper()
        assert not (a["phone"] and b["phone"])  # the second appearance gives no phone


def test_names_and_addresses_have_typos_in_the_crm(dataset: DemoDataset) -> None:
    crm = file_named(dataset, CRM_FILE).rows
    assert any(row["last_name"].isupper() for row in crm)
    abbreviated = [
        r for r in crm if r["address_line1"].endswith((" Rd", " St", " Ave", " Ln", " Dr"))
    ]
    lowered = [r for r in crm if r["address_line1"] == r["address_line1"].lower()]
    assert abbreviated and lowered
    assert any(r["postcode"] == r["postcode"].lower() for r in crm)


def test_a_few_messages_carry_junk_ids_that_truth_ignores(dataset: DemoDataset) -> None:
    web = dataset.messages[WEB]
    junk_user = [m for m in web if m.get("userId") in ("anonymous", "null")]
    junk_email = [m for m in web if (m.get("traits") or {}).get("email") == "test@example.com"]
    assert 1 <= len(junk_user) <= 10
    assert 1 <= len(junk_email) <= 10
    assert all(m["anonymousId"] for m in junk_user + junk_email)


def test_file_mappings_use_allowed_targets_on_real_columns(dataset: DemoDataset) -> None:
    target = re.compile(
        r"^(identifier:(?P<id>\w+)|trait:[A-Za-z_.]+|consent:(?P<purpose>\w+)"
        r"|event:name|event:timestamp|event:property:\w+)$"
    )
    for demo_file in dataset.files:
        assert demo_file.rows, demo_file.name
        assert set(demo_file.mapping) <= set(demo_file.columns)
        for row in demo_file.rows:
            assert list(row) == demo_file.columns
            assert all(isinstance(value, str) for value in row.values())
            identifier_columns = [
                c for c, t in demo_file.mapping.items() if t.startswith("identifier:")
            ]
            assert any(row[c] for c in identifier_columns), row
        for column, mapped in demo_file.mapping.items():
            match = target.match(mapped)
            assert match, (demo_file.name, column, mapped)
            assert match["id"] is None or match["id"] in IDENTIFIER_TYPES
            assert match["purpose"] is None or match["purpose"] in CONSENT_PURPOSES
    events = {
        f.name: {"event:name", "event:timestamp"} <= set(f.mapping.values()) for f in dataset.files
    }
    assert events == {POS_FILE: True, CRM_FILE: False, CALLS_FILE: True}
    assert {r["event"] for r in file_named(dataset, POS_FILE).rows} == {"Order Completed"}
    consents = {r["email_opt_in"] for r in file_named(dataset, CRM_FILE).rows}
    assert consents == {"yes", "no", ""}


def test_revenue_is_positive_and_adds_up(dataset: DemoDataset) -> None:
    orders = [
        m["properties"]
        for source in (WEB, APP)
        for m in dataset.messages[source]
        if m.get("event") == "Order Completed"
    ]
    assert len(orders) >= 50
    for order in orders:
        assert order["revenue"] > 0 and order["currency"] == "GBP"
        assert order["total"] == pytest.approx(order["revenue"] + order["shipping"])
        subtotal = sum(p["price"] * p["quantity"] for p in order["products"])
        assert order["revenue"] == pytest.approx(subtotal - order["discount"], abs=0.01)
        assert order["order_id"].startswith(("WEB-", "APP-"))
    assert len({o["order_id"] for o in orders}) == len(orders)
    assert any(o.get("coupon") for o in orders)
    pos = file_named(dataset, POS_FILE).rows
    assert all(float(row["revenue"]) > 0 for row in pos)
    payments = [m["properties"] for m in dataset.messages[PAYMENTS]]
    assert all(p["amount"] > 0 for p in payments)
    assert {m["event"] for m in dataset.messages[PAYMENTS]} == {
        "Payment Succeeded",
        "Payment Failed",
    }


def test_catalogue_has_about_forty_products_in_categories(dataset: DemoDataset) -> None:
    products: dict[str, tuple[str, float]] = {}
    for source in (WEB, APP):
        for message in dataset.messages[source]:
            if message.get("event") == "Product Viewed":
                p = message["properties"]
                assert products.setdefault(p["product_id"], (p["category"], p["price"])) == (
                    p["category"],
                    p["price"],
                )
    assert len(products) == 40
    assert len({category for category, _ in products.values()}) >= 8


def test_consent_choices_cover_every_purpose(dataset: DemoDataset) -> None:
    choices = [
        m["context"]["consent"]["categoryPreferences"]
        for _, m in all_messages(dataset)
        if "consent" in m["context"]
    ]
    assert len(choices) >= 30
    for preferences in choices:
        assert set(preferences) == set(CONSENT_PURPOSES)
        assert all(isinstance(value, bool) for value in preferences.values())
    assert any(p["email_marketing"] for p in choices)
    assert any(not p["email_marketing"] for p in choices)


def test_server_sources_send_the_expected_events_keyed_by_user_id(dataset: DemoDataset) -> None:
    email_events = Counter(m.get("event", m["type"]) for m in dataset.messages[EMAIL])
    assert email_events["Email Opened"] > email_events["Email Clicked"] > 0
    assert email_events["Email Unsubscribed"] >= 1
    assert set(email_events) <= {"Email Opened", "Email Clicked", "Email Unsubscribed", "identify"}
    assert all(m["userId"].startswith("usr_") for m in dataset.messages[EMAIL])
    assert all("anonymousId" not in m for m in dataset.messages[EMAIL])
    tickets = Counter(m["event"] for m in dataset.messages[SUPPORT])
    assert tickets["Ticket Opened"] >= tickets["Ticket Resolved"] > 0
    web_events = {m.get("event") for m in dataset.messages[WEB]}
    assert {
        "Product Viewed",
        "Product Added",
        "Cart Viewed",
        "Checkout Started",
        "Order Completed",
        "Subscription Started",
    } <= web_events


def test_behaviour_differs_by_cohort(dataset, owner) -> None:
    orders: Counter[str] = Counter()
    views: Counter[str] = Counter()
    last_add: dict[str, datetime] = {}
    last_order: dict[str, datetime] = {}
    for source, message in all_messages(dataset):
        person = owner[(source, message["messageId"])]
        event = message.get("event")
        when = parse(message["timestamp"])
        if event == "Order Completed":
            orders[person] += 1
            last_order[person] = max(when, last_order.get(person, when))
        elif event == "Product Viewed":
            views[person] += 1
        elif event == "Product Added":
            last_add[person] = max(when, last_add.get(person, when))
    for index in range(len(file_named(dataset, POS_FILE).rows)):
        orders[owner[(POS_FILE, index)]] += 1
    cohort = {person: entries[0]["cohort"] for person, entries in dataset.truth.items()}

    def mean_orders(name: str) -> float:
        people = [p for p in cohort if cohort[p] == name]
        return sum(orders[p] for p in people) / len(people)

    assert mean_orders("vip") > 3 * mean_orders("regular") > 0
    assert max(orders.values()) >= 8
    assert sum(1 for p in cohort if views[p] >= 15 and orders[p] == 0) >= 10
    abandoned = [
        p
        for p, added in last_add.items()
        if added > NOW - timedelta(days=1) and last_order.get(p, added) <= added
    ]
    assert len(abandoned) >= 5


def test_activity_grows_recently_while_the_lapsing_cohort_fades(dataset, owner) -> None:
    start = NOW - timedelta(days=DAYS)
    third = timedelta(days=DAYS / 3)
    everyone: Counter[int] = Counter()
    lapsing: Counter[int] = Counter()
    cohort = {person: entries[0]["cohort"] for person, entries in dataset.truth.items()}
    for source, message in all_messages(dataset):
        part = min(int((parse(message["timestamp"]) - start) / third), 2)
        everyone[part] += 1
        if cohort[owner[(source, message["messageId"])]] == "lapsing":
            lapsing[part] += 1
    assert everyone[2] > 1.3 * everyone[0]
    assert lapsing[0] > 2 * lapsing[2]


def test_full_size_dataset_has_tens_of_thousands_of_messages() -> None:
    full = generate(customers=2000, days=90, seed=1, now=NOW)
    total = sum(len(messages) for messages in full.messages.values())
    assert 50_000 <= total <= 150_000
    assert len(full.truth) == 2000
    assert len(file_named(full, CRM_FILE).rows) > 1000


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(customers=10, days=10, seed=1, now=datetime(2025, 1, 1))  # noqa: DTZ001
    with pytest.raises(ValueError, match="days"):
        generate(customers=10, days=0, seed=1, now=NOW)
    empty = generate(customers=0, days=10, seed=1, now=NOW)
    assert empty.truth == {} and all(not messages for messages in empty.messages.values())
    assert [len(f.rows) for f in empty.files] == [0, 0, 0]
