"""The pure Resolver: properties that hold on random identifier graphs."""

import random

import pytest

from profiles.domain.identity import TypeRule
from profiles.domain.resolution import Resolver

TYPES = ("user_id", "email", "phone", "anonymous_id")


def components(events: list[list[tuple[str, str]]]) -> set[frozenset]:
    """Connected components of identifiers seen together (a reference union-find)."""
    parent: dict = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for event in events:
        for identifier in event:
            find(identifier)
        for other in event[1:]:
            parent[find(other)] = find(event[0])
    groups: dict = {}
    for identifier in parent:
        groups.setdefault(find(identifier), set()).add(identifier)
    return {frozenset(group) for group in groups.values()}


def partition(resolver: Resolver) -> set[frozenset]:
    groups: dict = {}
    for identifier, profile in resolver.owner.items():
        groups.setdefault(profile, set()).add(identifier)
    return {frozenset(group) for group in groups.values()}


def random_events(rng: random.Random, count: int) -> list[list[tuple[str, str]]]:
    return [
        [(rng.choice(TYPES), str(rng.randrange(40))) for _ in range(rng.randint(1, 3))]
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(20))
def test_without_limits_profiles_are_the_connected_components(seed):
    rng = random.Random(seed)
    rules = {name: TypeRule(name, priority=rng.randrange(100)) for name in TYPES}
    events = random_events(rng, 60)
    resolver = Resolver(rules, {})
    for event in events:
        resolver.resolve(event)
    assert partition(resolver) == components(events)


@pytest.mark.parametrize("seed", range(20))
def test_limits_are_never_broken_and_every_drop_is_recorded(seed):
    rng = random.Random(seed)
    rules = {
        name: TypeRule(name, priority=rng.randrange(100), max_per_profile=rng.choice([None, 1, 2]))
        for name in TYPES
    }
    events = random_events(rng, 80)
    resolver = Resolver(rules, {})
    seen, dropped = set(), set()
    for event in events:
        decision = resolver.resolve(event)
        seen.update(event)
        dropped.update(drop.identifier for drop in decision.drops)
        assert decision.profile == resolver.canonical(decision.profile)
    for profile, held in resolver.holdings.items():
        for type_name, values in held.items():
            limit = rules[type_name].max_per_profile
            assert limit is None or len(values) <= limit, (profile, type_name, values)
    # Every identifier is either held by a profile or was dropped at least once.
    assert seen <= set(resolver.owner) | dropped


def test_a_known_person_again_changes_nothing():
    rules = {name: TypeRule(name, priority=100 - n) for n, name in enumerate(TYPES)}
    resolver = Resolver(rules, {("email", "a@x.com"): (7, 3), ("anonymous_id", "a1"): (7, 7)})
    decision = resolver.resolve([("anonymous_id", "a1"), ("email", "a@x.com")])
    assert (decision.profile, decision.origin) == (7, 3)
    assert (decision.new_identities, decision.merges, decision.drops) == ([], [], [])


def test_a_profile_over_a_lowered_limit_keeps_its_events():
    """An admin lowered email to one per profile; a profile with two keeps getting its events."""
    rules = {
        "email": TypeRule("email", priority=85, max_per_profile=1),
        "phone": TypeRule("phone", priority=70),
        "anonymous_id": TypeRule("anonymous_id", priority=10),
    }
    owners = {
        ("email", "a@x.com"): (5, 5),
        ("email", "b@x.com"): (5, 5),
        ("anonymous_id", "a1"): (5, 5),
    }
    resolver = Resolver(rules, owners)
    assert resolver.resolve([("anonymous_id", "a1")]).profile == 5
    decision = resolver.resolve([("anonymous_id", "a1"), ("anonymous_id", "a2")])
    assert (decision.profile, decision.new_identities, decision.drops) == (
        5,
        [("anonymous_id", "a2")],
        [],
    )
    # A new identifier of higher priority than the one that finds the profile joins it too.
    decision = resolver.resolve([("anonymous_id", "a1"), ("phone", "+447700900123")])
    assert (decision.profile, decision.drops) == (5, [])
    # A third email still cannot join it: as ever, the lower-priority identifier is dropped.
    decision = resolver.resolve([("anonymous_id", "a1"), ("email", "c@x.com")])
    assert decision.profile != 5
    assert [drop.identifier for drop in decision.drops] == [("anonymous_id", "a1")]
