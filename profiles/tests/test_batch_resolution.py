"""Batch resolution gives exactly what the sequential Resolver gives, event by event."""

from hypothesis import given, settings
from hypothesis import strategies as st

from profiles.domain.batch_resolution import resolve_batch
from profiles.domain.identity import TypeRule, alias_targets, extract
from profiles.domain.resolution import Drop, Resolver, Review
from profiles.domain.simulation import replay

LIMITED = ("user_id", "email", "phone", "anonymous_id")
TYPES = (*LIMITED, "no_rule")  # a type without a rule: priority 0, no limit

rule_sets = st.fixed_dictionaries(
    {
        name: st.builds(
            TypeRule,
            name=st.just(name),
            priority=st.integers(0, 2),  # ties happen: the order falls back to the identifier
            max_per_profile=st.sampled_from([None, None, 0, 1, 2, 3]),
            verified=st.booleans(),
        )
        for name in LIMITED
    }
)
# A few people with a few values each, so that most events stay within one person (several
# components, some over a limit and some not) and some join two people.
identifiers = st.tuples(
    st.sampled_from(TYPES),
    st.builds(lambda person, k: f"{person}.{k}", st.integers(0, 4), st.integers(0, 2)),
)


@st.composite
def batches(draw, rules=rule_sets):
    person_events = draw(
        st.lists(
            st.tuples(st.integers(0, 4), st.lists(st.sampled_from(TYPES), max_size=4)), max_size=40
        )
    )
    events = []
    for person, types in person_events:
        event = [(t, f"{person}.{draw(st.integers(0, 2))}") for t in types]
        event += draw(st.lists(identifiers, max_size=1))  # now and then someone else's
        events.append(event)
    linked = draw(
        st.dictionaries(
            st.integers(0, max(len(events) - 1, 0)), st.lists(identifiers, max_size=2), max_size=6
        )
    )
    return draw(rules), events, {i: ids for i, ids in linked.items() if i < len(events)}


def sequential(rules, events, linked):
    resolver = Resolver(rules, {})
    drops: list[tuple[int, Drop]] = []
    reviews: list[tuple[int, Review]] = []
    for i, event in enumerate(events):
        decision = resolver.resolve(event, linked.get(i, ()))
        drops += [(i, drop) for drop in decision.drops]
        reviews += [(i, review) for review in decision.reviews]
    return resolver.owner, drops, reviews, len(resolver.new_profiles)


@settings(max_examples=600, deadline=None)
@given(batches())
def test_batch_is_the_sequential_resolver(batch):
    rules, events, linked = batch
    result = resolve_batch(rules, events, linked)
    assert (result.owner, result.drops, result.reviews, result.new_profiles) == sequential(
        rules, events, linked
    )


@settings(max_examples=200, deadline=None)
@given(batches(rules=st.just({name: TypeRule(name, priority=50) for name in LIMITED})))
def test_without_limits_nothing_is_replayed(batch):
    rules, events, linked = batch
    result = resolve_batch(rules, events, linked)
    assert result.replayed_events == 0
    assert (result.owner, result.drops, result.reviews, result.new_profiles) == sequential(
        rules, events, linked
    )


def test_only_the_component_over_a_limit_is_replayed():
    rules = {
        "user_id": TypeRule("user_id", priority=100, max_per_profile=1, verified=True),
        "email": TypeRule("email", priority=85),
        "anonymous_id": TypeRule("anonymous_id", priority=10),
    }
    events = [
        [("anonymous_id", "a1"), ("user_id", "u1")],
        [("anonymous_id", "b1"), ("user_id", "v1")],  # another person, within the limits
        [("anonymous_id", "a2"), ("user_id", "u2")],
        [("anonymous_id", "b1"), ("email", "b@x.com")],
        [("email", "a@x.com"), ("user_id", "u1")],
        [("email", "a@x.com"), ("user_id", "u2")],  # two verified user ids: review
        [],
    ]
    result = resolve_batch(rules, events)
    assert result.replayed_events == 4
    assert (result.owner, result.drops, result.reviews, result.new_profiles) == sequential(
        rules, events, {}
    )
    assert result.owner[("email", "b@x.com")] == result.owner[("user_id", "v1")] == -2
    assert [(i, d.identifier, d.reason) for i, d in result.drops] == [
        (5, ("email", "a@x.com"), "would_merge_conflicting_profiles")
    ]
    assert [(i, r.reason) for i, r in result.reviews] == [(5, "verified_user_id_conflict")]
    assert result.new_profiles == 4  # the empty event makes one too, as resolve([]) does


def test_an_alias_of_an_identifier_not_seen_yet_joins_nothing():
    rules = {name: TypeRule(name) for name in ("user_id", "anonymous_id")}
    events = [[("anonymous_id", "a1")], [("user_id", "u1")], [("anonymous_id", "a2")]]
    linked = {1: [("anonymous_id", "a2")], 2: [("user_id", "u1")]}
    result = resolve_batch(rules, events, linked)
    assert result.owner == {
        ("anonymous_id", "a1"): -1,
        ("user_id", "u1"): -2,
        ("anonymous_id", "a2"): -2,
    }
    assert result.owner == sequential(rules, events, linked)[0]


# The rule simulation replays observed events through the batch resolution: the same owners as
# the Resolver it used before, blocked values and aliases included.
SIMULATION_RULES = {
    "user_id": TypeRule(
        "user_id",
        priority=100,
        max_per_profile=1,
        verified=True,
        blocked_values=frozenset({"null", "0"}),
    ),
    "email": TypeRule(
        "email",
        normaliser="email",
        trait_keys=("email",),
        priority=85,
        max_per_profile=1,
        blocked_values=frozenset({"test@example.com"}),
    ),
    "phone": TypeRule("phone", trait_keys=("phone",), priority=70),
    "anonymous_id": TypeRule("anonymous_id", priority=10, blocked_values=frozenset({"null"})),
}
ids = st.sampled_from(["a", "b", "c", "null", "0", None])
observations = st.lists(
    st.builds(
        lambda user_id, anonymous_id, previous_id, email, phone: {
            "type": "alias" if previous_id else "observed",
            "user_id": user_id,
            "anonymous_id": anonymous_id,
            "previous_id": previous_id,
            "traits": {"email": email, "phone": phone},
            "context": {},
        },
        ids,
        ids,
        ids,
        st.sampled_from(["a@x.com", "b@x.com", "A@X.com ", "test@example.com", None]),
        st.sampled_from(["1", "2", None]),
    ),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(observations, st.sampled_from([None, 1]))
def test_simulation_replay_is_the_sequential_resolver(events, phone_limit):
    rules = {
        **SIMULATION_RULES,
        "phone": TypeRule("phone", trait_keys=("phone",), priority=70, max_per_profile=phone_limit),
    }
    resolver = Resolver(rules, {})
    for event in events:
        found = extract(rules, event).identifiers
        previous = event["previous_id"]
        linked = alias_targets(rules, previous) if previous else []
        if found or linked:
            resolver.resolve(found, linked)
    assert replay(rules, events) == resolver.owner
