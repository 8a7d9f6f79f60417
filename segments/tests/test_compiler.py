"""The compiled SQL agrees with the plain-Python evaluator on random data and definitions."""

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles.models import Event, Profile, Source
from segments.domain.compiler import compile_node
from segments.domain.definition import validate
from segments.domain.evaluator import evaluate
from segments.models import Membership, Segment
from segments.registry import REGISTRY

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EVENTS = ["Product Viewed", "Product Added", "Order Completed"]
TRAITS = ["plan", "age", "city", "signup", "vip", "score.total"]
STRINGS = ["pro", "free", "Pro", "London", "london", "Leeds", "", "2026-11-18", "2025-01-02x"]


NUMBERS = [-5, 0, 1, 2, 3, 5, 10, 12, 30, 82, 150, 200, 12.5]


def random_value(rng: random.Random):
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(NUMBERS)
    if kind == 1:
        return round(rng.uniform(0, 300), 2)
    if kind == 2:
        return rng.choice(STRINGS)
    if kind == 3:
        return rng.choice([True, False])
    if kind == 4:
        return (NOW - timedelta(days=rng.randint(0, 90))).date().isoformat()
    return None


@pytest.fixture
def world(db):
    """40 profiles with random traits, computed traits, consent, events and memberships, and some
    events without a profile."""
    rng = random.Random(7)
    source = Source.objects.create(name="test", kind="website")
    segments = [Segment.objects.create(name=f"s{i}", definition={}) for i in range(2)]
    data = []
    for n in range(40):
        traits = {
            key: random_value(rng)
            for key in ("plan", "age", "city", "signup", "vip")
            if rng.random() < 0.7
        }
        if rng.random() < 0.5:
            traits["score"] = {"total": random_value(rng)}
        consent = {}
        for purpose in ("email_marketing", "sms"):
            if rng.random() < 0.6:
                consent[purpose] = {"granted": rng.random() < 0.6, "at": NOW.isoformat()}
                if rng.random() < 0.3:
                    expiry = NOW + timedelta(days=rng.choice([-3, 3]))
                    consent[purpose]["expires_at"] = expiry.isoformat()
        computed = {"order_count": rng.randint(0, 5), "lifetime_value": rng.choice(NUMBERS)}
        if rng.random() < 0.5:
            computed["last_order_at"] = (NOW - timedelta(days=rng.randint(0, 60))).isoformat()
        first = NOW - timedelta(days=rng.randint(10, 120))
        profile = Profile.objects.create(
            traits=traits,
            computed=computed,
            consent=consent,
            first_seen=first,
            last_seen=NOW - timedelta(days=rng.randint(0, 9)),
        )
        events = []
        for _ in range(rng.randint(0, 8)):
            properties = {}
            if rng.random() < 0.7:
                properties["revenue"] = rng.choice([*NUMBERS, "12", None])
            if rng.random() < 0.6:
                properties["category"] = rng.choice(["Sofas", "sofas", "Lamps"])
            events.append(
                Event(
                    source=source,
                    message_id=f"{n}-{len(events)}-{rng.random()}",
                    type="track",
                    name=rng.choice(EVENTS),
                    profile=profile,
                    properties=properties,
                    timestamp=NOW - timedelta(hours=rng.randint(0, 24 * 40)),
                    received_at=NOW,
                )
            )
        Event.objects.bulk_create(events)
        memberships = {seg.pk for seg in segments if rng.random() < 0.4}
        for seg_id in memberships:
            Membership.objects.create(segment_id=seg_id, profile=profile, entered_at=NOW)
        data.append(
            {
                "profile": {
                    "id": profile.pk,
                    "traits": traits,
                    "computed": computed,
                    "consent": consent,
                    "first_seen": profile.first_seen,
                    "last_seen": profile.last_seen,
                },
                "events": [
                    {"name": e.name, "timestamp": e.timestamp, "properties": e.properties}
                    for e in events
                ],
                "memberships": memberships,
            }
        )
    # Events not (yet) tied to a profile: a NULL profile_id must never leak into NOT IN.
    Event.objects.bulk_create(
        Event(
            source=source,
            message_id=f"anonymous-{n}",
            type="track",
            name=name,
            profile=None,
            properties={"revenue": 10},
            timestamp=NOW - timedelta(hours=n),
            received_at=NOW,
        )
        for n, name in enumerate(EVENTS * 3)
    )
    return data, [seg.pk for seg in segments]


ids = iter(range(10**9))


def nid() -> str:
    return f"n{next(ids)}"


scalar = st.one_of(
    st.sampled_from(NUMBERS),
    st.floats(0, 300).map(lambda f: round(f, 1)),
    st.sampled_from(STRINGS),
    st.booleans(),
)


@st.composite
def comparison(draw, keys):
    operator = draw(
        st.sampled_from(
            [
                "equals",
                "not_equals",
                "contains",
                "starts_with",
                "in",
                "gt",
                "gte",
                "lt",
                "lte",
                "between",
                "is_set",
                "not_set",
                "before",
                "after",
                "within_last_days",
            ]
        )
    )
    node = {"operator": operator, "key": draw(st.sampled_from(keys))}
    if operator in ("equals", "not_equals"):
        node["value"] = draw(scalar)
    elif operator == "in":
        node["value"] = draw(st.lists(scalar, min_size=1, max_size=3))
    elif operator in ("contains", "starts_with"):
        node["value"] = draw(st.sampled_from(["pro", "Lon", "o", "SOF", "2026"]))
    elif operator in ("gt", "gte", "lt", "lte"):
        node["value"] = draw(st.sampled_from(NUMBERS))
    elif operator == "between":
        low, high = sorted(draw(st.lists(st.sampled_from(NUMBERS), min_size=2, max_size=2)))
        node["value"] = [low, high]
    elif operator in ("before", "after"):
        node["value"] = (NOW - timedelta(days=draw(st.integers(0, 90)))).date().isoformat()
    elif operator == "within_last_days":
        node["value"] = draw(st.integers(0, 90))
    return node


window = st.one_of(
    st.just({"kind": "ever"}),
    st.integers(0, 40).map(lambda n: {"kind": "last_days", "days": n}),
    st.tuples(st.integers(0, 20), st.integers(0, 20)).map(
        lambda t: {"kind": "between_days_ago", "from": min(t), "to": max(t)}
    ),
)


@st.composite
def where(draw):
    filters = []
    for _ in range(draw(st.integers(0, 2))):
        c = draw(comparison(["revenue", "category"]))
        filters.append({"property": c.pop("key"), **c})
    return filters


@st.composite
def condition(draw, segment_ids):
    kind = draw(
        st.sampled_from(["trait", "computed", "event", "sequence", "seen", "consent", "segment"])
    )
    node = {"id": nid(), "type": kind, "negate": draw(st.booleans())}
    if kind == "trait":
        c = draw(comparison(TRAITS))
        node.update(trait=c.pop("key"), **c)
    elif kind == "computed":
        c = draw(comparison(["lifetime_value", "order_count", "last_order_at"]))
        node.update(name=c.pop("key"), **c)
    elif kind == "event":
        node.update(event=draw(st.sampled_from(EVENTS)), window=draw(window), where=draw(where()))
        node["performed"] = draw(st.booleans())
        if node["performed"] and draw(st.booleans()):
            node["count"] = {
                "operator": draw(st.sampled_from(["eq", "gt", "gte", "lt", "lte"])),
                "value": draw(st.one_of(st.integers(0, 4), st.sampled_from([-1, 0.5, 1.5, 2.5]))),
            }
        if node["performed"] and draw(st.booleans()):
            node["aggregate"] = {
                "function": draw(st.sampled_from(["sum", "avg", "min", "max"])),
                "property": "revenue",
                "operator": draw(st.sampled_from(["gt", "gte", "lt", "lte"])),
                "value": draw(st.sampled_from(NUMBERS)),
            }
    elif kind == "sequence":
        node.update(
            first={"event": draw(st.sampled_from(EVENTS)), "where": draw(where())},
            then={"event": draw(st.sampled_from(EVENTS)), "where": []},
            within_days=draw(st.integers(1, 10)),
            mode=draw(st.sampled_from(["then", "not_then"])),
            window=draw(window),
        )
    elif kind == "seen":
        operator = draw(
            st.sampled_from(["within_last_days", "not_within_last_days", "before", "after"])
        )
        value = (
            (NOW - timedelta(days=draw(st.integers(0, 120)))).date().isoformat()
            if operator in ("before", "after")
            else draw(st.integers(0, 120))
        )
        node.update(
            which=draw(st.sampled_from(["first_seen", "last_seen"])), operator=operator, value=value
        )
    elif kind == "consent":
        node.update(
            purpose=draw(st.sampled_from(["email_marketing", "sms", "push"])),
            status=draw(st.sampled_from(["granted", "denied", "unknown"])),
        )
    else:
        node.update(segment=draw(st.sampled_from(segment_ids)), member=draw(st.booleans()))
    return node


def tree(segment_ids):
    return st.recursive(
        condition(segment_ids),
        lambda children: st.builds(
            lambda kids, op, negate: {
                "id": nid(),
                "type": "group",
                "op": op,
                "negate": negate,
                "children": kids,
            },
            st.lists(children, min_size=0, max_size=3),
            st.sampled_from(["and", "or"]),
            st.booleans(),
        ),
        max_leaves=6,
    )


def assert_sql_agrees(people: list[dict], root: dict, scope: list[int]) -> None:
    """The compiled query selects the profiles the evaluator accepts, and so does the query
    compiled for a few profiles (the real-time form), among those profiles."""
    expected = {
        person["profile"]["id"]
        for person in people
        if evaluate(
            root,
            profile=person["profile"],
            events=person["events"],
            memberships=person["memberships"],
            now=NOW,
        )
    }
    q = compile_node(root, now=NOW, registry=REGISTRY)
    assert set(Profile.objects.filter(q).values_list("pk", flat=True)) == expected, root
    scoped = compile_node(root, now=NOW, registry=REGISTRY, profile_ids=scope)
    in_scope = Profile.objects.filter(scoped, pk__in=scope).values_list("pk", flat=True)
    assert set(in_scope) == expected & set(scope), (root, scope)


def some_profiles(data, people: list[dict]) -> list[int]:
    ids = [person["profile"]["id"] for person in people]
    return data.draw(st.lists(st.sampled_from(ids), max_size=4, unique=True))


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_compiled_sql_matches_the_python_evaluator(world, data):
    people, segment_ids = world
    root = data.draw(tree(segment_ids))
    if root["type"] != "group":
        root = {"id": nid(), "type": "group", "op": "and", "children": [root]}
    definition = validate({"version": 1, "root": root})
    assert_sql_agrees(people, definition["root"], some_profiles(data, people))


@st.composite
def tallies_of_one_event(draw, segment_ids):
    """An AND group of counts and aggregates of one event (read together in one pass), beside
    other conditions, under random negations."""
    event, shared_where = draw(st.sampled_from(EVENTS)), draw(where())
    tallies = []
    for _ in range(draw(st.integers(2, 3))):
        node = {"id": nid(), "type": "event", "event": event, "performed": True,
                "window": draw(window),
                "where": shared_where if draw(st.booleans()) else draw(where())}  # fmt: skip
        if draw(st.booleans()) or draw(st.booleans()):
            node["count"] = {
                "operator": draw(st.sampled_from(["eq", "gt", "gte", "lt", "lte"])),
                "value": draw(st.one_of(st.integers(0, 4), st.just(1.5))),
            }
        if "count" not in node or draw(st.booleans()):
            node["aggregate"] = {
                "function": draw(st.sampled_from(["sum", "avg", "min", "max"])),
                "property": "revenue",
                "operator": draw(st.sampled_from(["eq", "gt", "gte", "lt", "lte"])),
                "value": draw(st.sampled_from(NUMBERS)),
            }
        tallies.append(node)
    others = draw(st.lists(condition(segment_ids), max_size=2))
    kids = draw(st.permutations(tallies + others))
    inner = {"id": nid(), "type": "group", "op": "and", "negate": draw(st.booleans()),
             "children": kids}  # fmt: skip
    return {"id": nid(), "type": "group", "op": draw(st.sampled_from(["and", "or"])),
            "negate": draw(st.booleans()), "children": [inner, *draw(st.lists(
                condition(segment_ids), max_size=1))]}  # fmt: skip


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_counts_of_one_event_read_together_match_the_python_evaluator(world, data):
    people, segment_ids = world
    definition = validate({"version": 1, "root": data.draw(tallies_of_one_event(segment_ids))})
    assert_sql_agrees(people, definition["root"], some_profiles(data, people))


def test_an_invalid_node_never_compiles_to_match_everything(world):
    from segments.domain.definition import DefinitionError

    with pytest.raises(DefinitionError):
        compile_node({"id": "x", "type": "mystery"}, now=NOW, registry=REGISTRY)
    empty_not = {"id": "g", "type": "group", "op": "and", "negate": True, "children": []}
    assert not Profile.objects.filter(compile_node(empty_not, now=NOW, registry=REGISTRY)).exists()


def test_compiling_does_not_touch_the_database(world, django_assert_num_queries):
    root = {
        "id": "g",
        "type": "group",
        "op": "or",
        "children": [
            {
                "id": "e",
                "type": "event",
                "event": "Order Completed",
                "performed": True,
                "window": {"kind": "last_days", "days": 7},
                "where": [],
                "aggregate": {
                    "function": "sum",
                    "property": "revenue",
                    "operator": "gte",
                    "value": 200,
                },
            },
            {"id": "s", "type": "segment", "segment": world[1][0], "member": True},
        ],
    }
    with django_assert_num_queries(0):
        compile_node(validate({"version": 1, "root": root})["root"], now=NOW, registry=REGISTRY)
