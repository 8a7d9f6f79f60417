"""The pure matcher: normalisation, comparison levels, blocking, EM, scores and explanations."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.domain import matching
from profiles.domain.matching import MatchRecord, Model, compare, link, prepare

FIRST = ["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Noah", "Mia", "Leo", "Freya"]
LAST = ["Khan", "Walsh", "Patel", "Hughes", "Murray", "Grant", "Fox", "Lloyd", "Shaw", "Reid"]


def record(key: int, **values) -> MatchRecord:
    return MatchRecord(key=key, **values)


JANE = record(
    1,
    first_name="Jane",
    last_name="Doe",
    emails=("jane.doe@example.com",),
    phones=("+447700900123",),
    birth_date="1985-04-12",
    postcode="SW1A 1AA",
    street="12 Oak Road",
    city="London",
)


def levels(a: MatchRecord, b: MatchRecord) -> dict[str, str | None]:
    gamma = compare(prepare(a), prepare(b))
    return {
        c.field: None if level is None else c.levels[level]
        for c, level in zip(matching.COMPARISONS, gamma, strict=True)
    }


def population(n: int, seed: int = 3) -> list[MatchRecord]:
    """Unrelated people with random names, dates and addresses."""
    rng = random.Random(seed)
    people = []
    for i in range(n):
        year, month, day = rng.randint(1940, 2005), rng.randint(1, 12), rng.randint(1, 28)
        inward = f"{rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}"
        people.append(
            record(
                100 + i,
                first_name=rng.choice(FIRST),
                last_name=rng.choice(LAST),
                birth_date=f"{year}-{month:02d}-{day:02d}",
                postcode=f"LS{rng.randint(1, 29)} {inward}",
                street=f"{rng.randint(1, 300)} {rng.choice(LAST)} {rng.choice(['Road', 'Way'])}",
                city=rng.choice(["Leeds", "York", "Bath", "Derby", "Hull"]),
                emails=(f"person{i}@example.net",),
            )
        )
    return people


# --- Normalisation --------------------------------------------------------------------------------


def test_normalisers():
    assert matching.name_key(" O'Brien-Smith ") == "obriensmith"
    assert matching.name_key("Zoë") == "zoe"
    assert matching.postcode_key("sw1a 1aa") == "SW1A1AA"
    assert matching.street_key("12, Oak Rd.") == "12 oak road"
    assert matching.street_key("Flat 2, 7 St Mary St") == "flat 2 7 st mary street"
    assert matching.city_key("  Newcastle  upon Tyne") == "newcastle upon tyne"
    assert matching.date_key("1985-04-12T00:00:00Z") == "1985-04-12"
    assert matching.date_key("12/04/1985") == "1985-04-12"
    assert matching.date_key("1985-13-01") == ""
    assert matching.date_key("yesterday") == ""


@pytest.mark.parametrize(
    ("name", "code"),
    [("Robert", "R163"), ("Rupert", "R163"), ("Ashcraft", "A261"), ("Tymczak", "T522"),
     ("Pfister", "P236"), ("Lee", "L000"), ("", "")],
)  # fmt: skip
def test_soundex(name, code):
    assert matching.soundex(name) == code


# --- Comparison levels ----------------------------------------------------------------------------


def test_identical_records_agree_exactly_on_every_field():
    assert set(levels(JANE, record(2, **_values(JANE))).values()) == {"exact"}


def test_levels_for_typos_formats_and_near_misses():
    other = record(
        2,
        first_name="Jnae",
        last_name="DOE",
        emails=("jane.doe@example.co",),
        phones=("+447700900124",),
        birth_date="1985-12-04",
        postcode="sw1a 1ab",
        street="12 Oak Rd",
        city="London",
    )
    assert levels(JANE, other) == {
        "first_name": "Jaro-Winkler ≥ 0.92",
        "last_name": "exact",
        "emails": "Levenshtein ≤ 2",
        "phones": "one digit different",
        "birth_date": "one digit off or day/month swapped",
        "postcode": "one character different",
        "street": "exact",
        "city": "exact",
    }


def test_levels_for_initials_and_other_numbers():
    other = record(
        2, first_name="J", birth_date="1985-01-01", postcode="SW1A 2ZZ", street="14 Oak Road"
    )
    found = levels(JANE, other)
    assert found["first_name"] == "initial"
    assert found["birth_date"] == "same year"
    assert found["postcode"] == "same outward code"
    assert found["street"] == "same street, other number"
    assert found["last_name"] is None and found["emails"] is None


def test_unrelated_values_are_different():
    other = record(
        2,
        first_name="Mohammed",
        last_name="Okafor",
        emails=("mo@example.org",),
        phones=("+441134960999",),
        birth_date="1961-09-30",
        postcode="LS6 3QT",
        street="301 Kirkstall Lane",
        city="Leeds",
    )
    assert set(levels(JANE, other).values()) == {"different"}


def _values(r: MatchRecord) -> dict:
    return {f: getattr(r, f) for f in MatchRecord.__slots__ if f != "key"}


# --- Model: weights, missing values, probability --------------------------------------------------


def test_default_weights_favour_agreement():
    model = Model.default(1000)
    for c in matching.COMPARISONS:
        assert model.weight(c.field, 0) > 3, c.field
        assert model.weight(c.field, len(c.levels) - 1) < 0, c.field
        assert model.weight(c.field, None) == 0


def test_missing_values_are_neutral():
    model = Model.default(1000)
    gamma = compare(prepare(JANE), prepare(record(2, **{**_values(JANE), "birth_date": ""})))
    assert gamma[matching.FIELDS.index("birth_date")] is None
    evidence = {e.field: e for e in matching.explain(model, JANE, JANE, gamma)}
    assert evidence["birth_date"].level == "missing"
    assert evidence["birth_date"].weight == 0
    without_dob = list(compare(prepare(JANE), prepare(JANE)))
    without_dob[matching.FIELDS.index("birth_date")] = None
    assert model.match_weight(gamma) == pytest.approx(model.match_weight(tuple(without_dob)))


def test_probability_from_weight():
    assert matching.probability(0) == 0.5
    assert matching.probability(10) == pytest.approx(1024 / 1025)
    assert matching.probability(-80) == pytest.approx(2**-80)
    assert matching.probability(-5000) == 0


def test_explanation_weights_add_up_to_the_match_weight():
    model = Model.default(100)
    other = record(2, first_name="Jnae", last_name="Doe", birth_date="1985-04-12", city="Leeds")
    gamma = compare(prepare(JANE), prepare(other))
    evidence = matching.explain(model, JANE, other, gamma)
    assert [e.field for e in evidence] == list(matching.FIELDS)
    assert sum(e.weight for e in evidence) + model.prior_weight == pytest.approx(
        model.match_weight(gamma)
    )
    city = next(e for e in evidence if e.field == "city")
    assert (city.a, city.b, city.level) == ("London", "Leeds", "different")
    assert city.as_dict()["weight"] < 0


# --- Linking tiny hand-made data ------------------------------------------------------------------


def test_identical_records_score_near_one_and_unrelated_near_zero():
    people = population(30)
    twin = record(1, **_values(people[0]))
    result = link([*people, twin], min_probability=0)
    scores = {(p.key_a, p.key_b): p.probability for p in result.pairs}
    assert scores[(1, people[0].key)] > 0.999
    others = [p for key, p in scores.items() if key != (1, people[0].key)]
    assert max(others, default=0) < 0.05


def test_a_missing_field_neither_helps_nor_hurts_much():
    people = population(30)
    full = record(1, **_values(people[0]))
    no_city = record(2, **{**_values(people[0]), "city": ""})
    result = link([*people, full, no_city], min_probability=0)
    scores = {(p.key_a, p.key_b): p for p in result.pairs}
    with_city, without_city = scores[(1, people[0].key)], scores[(2, people[0].key)]
    assert with_city.weight - without_city.weight == pytest.approx(result.model.weight("city", 0))


def test_em_learns_m_from_the_data():
    """Twins whose day and month are always swapped: EM finds that this level marks a match."""
    people = population(60, seed=8)
    swappable = [p for p in people if p.birth_date[5:7] != p.birth_date[8:] <= "12"][:15]
    twins = []
    for i, p in enumerate(swappable):
        year, month, day = p.birth_date.split("-")
        values = {**_values(p), "birth_date": f"{year}-{day}-{month}", "key": 1000 + i}
        twins.append(MatchRecord(**values))
    result = link([*people, *twins], min_probability=0)
    m_swapped = result.model.m["birth_date"][1]
    assert m_swapped > 0.5 > matching.COMPARISONS[4].m0[1]
    assert result.model.weight("birth_date", 1) > Model.default(80).weight("birth_date", 1)
    found = {(p.key_a, p.key_b) for p in result.pairs if p.probability >= 0.99}
    assert found == {(p.key, t.key) for p, t in zip(swappable, twins, strict=True)}
    assert result.model.converged


def test_results_are_deterministic_for_a_seed_and_input_order():
    people = population(80, seed=4)
    people.append(record(1, **{**_values(people[5]), "first_name": "Olivr"}))
    first = link(people, seed=7)
    again = link(list(reversed(people)), seed=7)
    assert [(p.key_a, p.key_b, p.probability) for p in first.pairs] == [
        (p.key_a, p.key_b, p.probability) for p in again.pairs
    ]
    assert first.model.as_dict() == again.model.as_dict()


# --- Blocking -------------------------------------------------------------------------------------


def test_blocking_pairs_only_records_sharing_a_key():
    a = prepare(record(1, postcode="LS1 1AA"))
    b = prepare(record(2, postcode="ls11aa"))
    c = prepare(
        record(3, postcode="LS2 2BB", first_name="Ava", last_name="Fox", birth_date="1990-01-01")
    )
    d = prepare(record(4, first_name="Amy", last_name="Fry", birth_date="1990-01-01"))
    assert matching.candidate_pairs([a, b, c, d]).pairs == [(0, 1), (2, 3)]


def test_oversized_blocks_are_skipped():
    junk = [
        prepare(record(i, birth_date="1900-01-01", first_name="X", last_name="Y"))
        for i in range(30)
    ]
    blocking = matching.candidate_pairs(junk, max_block_size=20)
    assert blocking.pairs == []
    assert blocking.skipped_blocks == 2  # date + initials, Soundex codes + year
    assert blocking.skipped_records == 60


def test_candidate_pairs_grow_about_linearly():
    def people(n: int) -> list[matching.Prepared]:
        rng = random.Random(n)
        letters = "abcdefghijklmnopqrstuvwxyz"
        out = []
        for i in range(n):
            values = {
                "first_name": "".join(rng.choices(letters, k=6)),
                "last_name": "".join(rng.choices(letters, k=7)),
                "birth_date": f"{rng.randint(1940, 2005)}-{rng.randint(1, 12):02d}-01",
                "postcode": f"LS{rng.randint(1, 99)} {rng.randint(1, 9)}"
                + "".join(rng.choices(letters, k=2)),
            }
            out.append(prepare(record(i, **values)))
            if i % 10 == 0:  # one in ten has a second profile
                out.append(prepare(record(n + i, **values)))
        return out

    small = len(matching.candidate_pairs(people(1000)).pairs)
    large = len(matching.candidate_pairs(people(4000)).pairs)
    assert large < 6 * small  # all pairs would be 16 times as many


# --- Records from traits --------------------------------------------------------------------------


def test_records_from_segment_traits():
    traits = {
        "firstName": "Jane",
        "lastName": "Doe",
        "email": "Jane@Example.com",
        "birthday": "1985-04-12",
        "address": {"street": "12 Oak Road", "city": "London", "postalCode": "SW1A 1AA"},
    }
    made = matching.record_from_traits(5, traits, emails=["jane@example.com"], phones=["+44"])
    assert made == MatchRecord(
        5, "Jane", "Doe", ("jane@example.com",), ("+44",), "1985-04-12", "SW1A 1AA",
        "12 Oak Road", "London",
    )  # fmt: skip
    assert matching.matchable(made)


def test_records_from_other_spellings():
    made = matching.record_from_traits(
        6, {"name": "Mary Jane Watson", "date_of_birth": "1990-02-03", "postcode": "LS1"}
    )
    assert (made.first_name, made.last_name) == ("Mary", "Watson")
    assert (made.birth_date, made.postcode) == ("1990-02-03", "LS1")
    assert not matching.matchable(matching.record_from_traits(7, {"firstName": "Ann"}))
    assert not matching.matchable(matching.record_from_traits(8, {"birthday": "1990-02-03"}))


# --- Properties -----------------------------------------------------------------------------------

names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=0, max_size=8)
dates = st.dates().map(lambda d: d.isoformat()) | st.just("")
records = st.builds(
    MatchRecord,
    key=st.integers(0, 10**6),
    first_name=names,
    last_name=names,
    emails=st.lists(st.emails(), max_size=2).map(tuple),
    birth_date=dates,
    postcode=st.text(alphabet="AB12 ", max_size=7),
    street=st.text(alphabet="ab 12", max_size=12),
    city=names,
)


@settings(max_examples=200, deadline=None)
@given(records, records)
def test_comparison_is_symmetric(a, b):
    assert compare(prepare(a), prepare(b)) == compare(prepare(b), prepare(a))


@settings(max_examples=200, deadline=None)
@given(records)
def test_a_record_agrees_with_itself_wherever_it_has_a_value(a):
    gamma = compare(prepare(a), prepare(a))
    assert all(level in (0, None) for level in gamma)
    model = Model.default(100)
    assert model.match_weight(gamma) >= model.prior_weight
    assert not math.isnan(model.probability(gamma))
