"""Rule simulation, pure: replaying identifiers under two rule sets and comparing partitions."""

from dataclasses import replace

from profiles.domain.identity import TypeRule
from profiles.domain.simulation import Sample, compare, replay, simulate

RULES = {
    "user_id": TypeRule("user_id", priority=100, max_per_profile=1, verified=True),
    "email": TypeRule(
        "email", normaliser="email", trait_keys=("email",), priority=85, max_per_profile=1
    ),
    "phone": TypeRule("phone", normaliser="phone", trait_keys=("phone",), priority=70),
    "anonymous_id": TypeRule("anonymous_id", priority=10),
}


def seen(anonymous_id=None, user_id=None, previous_id=None, **traits) -> dict:
    return {
        "type": "alias" if previous_id else "observed",
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "previous_id": previous_id,
        "traits": traits,
        "context": {},
    }


def with_rule(name: str, **changes) -> dict[str, TypeRule]:
    return {**RULES, name: replace(RULES[name], **changes)}


def test_replay_groups_identifiers_seen_together():
    owner = replay(RULES, [seen("a1", email="A@x.com"), seen("a2"), seen("a2", email="a@x.com")])
    assert owner[("anonymous_id", "a1")] == owner[("email", "a@x.com")]
    assert owner[("anonymous_id", "a2")] == owner[("email", "a@x.com")]


def test_unchanged_rules_have_no_impact():
    observations = [seen("a1", email="a@x.com"), seen("a2", email="b@x.com")]
    impact = simulate(RULES, dict(RULES), observations, {})
    assert impact.is_zero
    assert impact.observations == 2
    assert impact.samples == []


def _two_people_linked_by_a_second_email():
    """a1 has a@x, a2 has b@x; then a1 shows up with b@x: one email per profile keeps them apart."""
    observations = [
        seen("a1", email="a@x.com"),
        seen("a2", email="b@x.com"),
        seen("a1", email="b@x.com"),
    ]
    current = {
        ("anonymous_id", "a1"): 1,
        ("email", "a@x.com"): 1,
        ("anonymous_id", "a2"): 2,
        ("email", "b@x.com"): 2,
    }
    return observations, current


def test_raising_max_per_profile_on_email_merges_two_profiles():
    observations, current = _two_people_linked_by_a_second_email()
    impact = simulate(
        RULES, with_rule("email", max_per_profile=2), observations, current, focus="email"
    )
    assert impact.profiles_merged == 2
    assert impact.merge_groups == 1
    assert impact.profiles_split == 0
    assert impact.identifiers_dropped == 0
    assert impact.samples == [Sample("merge", (1, 2), (("email", "a@x.com"), ("email", "b@x.com")))]


def test_blocking_a_value_splits_the_profile_it_joined():
    observations = [
        seen("a1", email="shared@x.com"),
        seen("a2", email="shared@x.com"),
        seen("a2", phone="07700 900123"),
    ]
    current = {
        ("anonymous_id", "a1"): 7,
        ("anonymous_id", "a2"): 7,
        ("email", "shared@x.com"): 7,
        ("phone", "+447700900123"): 7,
    }
    new = with_rule("email", blocked_values=frozenset({"shared@x.com"}))
    impact = simulate(RULES, new, observations, current)
    assert impact.profiles_split == 1
    assert impact.identifiers_split_off == 1
    assert impact.identifiers_dropped == 1
    assert impact.profiles_losing_identifiers == 1
    assert impact.profiles_merged == 0
    split, drop = impact.samples
    assert split == Sample(
        "split",
        (7,),
        parts=(
            (("anonymous_id", "a2"), ("phone", "+447700900123")),
            (("anonymous_id", "a1"),),
        ),
    )
    assert drop == Sample("drop", (7,), (("email", "shared@x.com"),))


def test_counts_are_exact_over_several_people():
    observations = []
    current = {}
    # Five pairs like the two above: raising the email limit merges each pair.
    for n in range(5):
        observations += [
            seen(f"p{n}a", email=f"p{n}a@x.com"),
            seen(f"p{n}b", email=f"p{n}b@x.com"),
            seen(f"p{n}a", email=f"p{n}b@x.com"),
        ]
        current |= {
            ("anonymous_id", f"p{n}a"): 100 + 2 * n,
            ("email", f"p{n}a@x.com"): 100 + 2 * n,
            ("anonymous_id", f"p{n}b"): 101 + 2 * n,
            ("email", f"p{n}b@x.com"): 101 + 2 * n,
        }
    # Three people nobody links: never affected.
    for n in range(3):
        observations.append(seen(f"solo{n}", email=f"solo{n}@x.com"))
        current |= {("anonymous_id", f"solo{n}"): 200 + n, ("email", f"solo{n}@x.com"): 200 + n}
    impact = simulate(RULES, with_rule("email", max_per_profile=3), observations, current)
    assert (impact.profiles_merged, impact.merge_groups) == (10, 5)
    assert (impact.profiles_split, impact.identifiers_dropped, impact.identifiers_added) == (
        0,
        0,
        0,
    )
    assert [s.profiles for s in impact.samples] == [(100 + 2 * n, 101 + 2 * n) for n in range(5)]


def test_disabling_a_type_drops_its_identifiers_and_can_split():
    observations = [seen("a1", phone="07700 900001"), seen("a2", phone="07700 900001")]
    current = {
        ("anonymous_id", "a1"): 3,
        ("anonymous_id", "a2"): 3,
        ("phone", "+447700900001"): 3,
    }
    new = {name: rule for name, rule in RULES.items() if name != "phone"}
    impact = simulate(RULES, new, observations, current)
    assert impact.identifiers_dropped == 1
    assert impact.profiles_split == 1
    assert impact.samples[0].kind == "split"


def test_a_new_identifier_type_can_merge_profiles():
    observations = [seen("a1", loyalty="L-1"), seen("a2", loyalty="L-1")]
    current = {("anonymous_id", "a1"): 1, ("anonymous_id", "a2"): 2}
    new = {**RULES, "loyalty_id": TypeRule("loyalty_id", trait_keys=("loyalty",), priority=80)}
    impact = simulate(RULES, new, observations, current, focus="loyalty_id")
    assert impact.profiles_merged == 2
    assert impact.identifiers_added == 1
    assert impact.samples[0].identifiers == (("loyalty_id", "L-1"),)


def test_a_stricter_pattern_drops_values_that_no_longer_match():
    rules = {**RULES, "crm_id": TypeRule("crm_id", normaliser="regex", trait_keys=("crm",))}
    observations = [seen("a1", crm="C-12"), seen("a2", crm="legacy")]
    current = {
        ("anonymous_id", "a1"): 1,
        ("crm_id", "C-12"): 1,
        ("anonymous_id", "a2"): 2,
        ("crm_id", "legacy"): 2,
    }
    new = {**rules, "crm_id": replace(rules["crm_id"], pattern=r"C-\d+")}
    impact = simulate(rules, new, observations, current)
    assert impact.identifiers_dropped == 1
    assert impact.samples == [Sample("drop", (2,), (("crm_id", "legacy"),))]


def test_history_that_is_not_in_the_replay_is_not_reported():
    """Two replay groups that a review merged into one profile today: joining them is no merge."""
    before = {("email", "a@x.com"): -1, ("email", "b@x.com"): -2}
    after = {("email", "a@x.com"): -1, ("email", "b@x.com"): -1}
    current = {("email", "a@x.com"): 5, ("email", "b@x.com"): 5}
    assert compare(before, after, current).profiles_merged == 0


def test_samples_are_capped():
    before = {("anonymous_id", f"a{n}"): -n - 1 for n in range(30)}
    after: dict = {}
    current = {key: n for n, key in enumerate(before)}
    impact = compare(before, after, current, max_samples=10)
    assert impact.identifiers_dropped == 30
    assert impact.profiles_losing_identifiers == 30
    assert len(impact.samples) == 10
