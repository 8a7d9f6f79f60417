"""Rule simulation: what a change of identity rules would do to today's profiles. Pure (no ORM).

The evidence is what events carried together: each distinct combination of identifier fields
(user id, anonymous id, device id, the identifier traits, external ids, an alias's previous id),
in the order it was first seen. That evidence is replayed twice, under the current rules and under
the proposed ones, by the batch resolution (`resolve_batch`: exactly what the pure Resolver would
decide event by event, with union-find wherever no rule can matter), and the two partitions of
identifiers are compared. Comparing two replays, rather than one replay with the profiles in the
database, keeps history out of the answer (merges made by review, unmerges, rules changed since):
only the rule change shows.

Reported with the profiles of today that hold the identifiers: a merge is a group of the new
replay joining identifiers that the current replay kept apart, held by two or more of today's
profiles; a split is one of today's profiles whose identifiers the new replay puts into more groups
than the current one; a drop is an identifier the current replay keeps and the new one does not.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import zip_longest

from profiles.domain.batch_resolution import resolve_batch
from profiles.domain.identity import TypeRule, alias_targets, extract
from profiles.domain.resolution import Identifier

MAX_SAMPLES = 10


@dataclass(frozen=True)
class Sample:
    kind: str  # merge | split | drop
    profiles: tuple[int, ...]  # today's profiles concerned
    identifiers: tuple[Identifier, ...] = ()  # merge: its identifiers; drop: those dropped
    parts: tuple[tuple[Identifier, ...], ...] = ()  # split: the identifiers of each part


@dataclass
class Impact:
    observations: int = 0
    profiles_merged: int = 0  # today's profiles that would be joined with another
    merge_groups: int = 0  # the profiles they would become
    profiles_split: int = 0  # today's profiles that would come apart
    identifiers_split_off: int = 0  # identifiers leaving the largest part of a split
    identifiers_dropped: int = 0  # identifiers kept today that the new rules drop
    profiles_losing_identifiers: int = 0
    identifiers_added: int = 0  # identifiers dropped today that the new rules keep
    samples: list[Sample] = field(default_factory=list)

    @property
    def is_zero(self) -> bool:
        return not (
            self.profiles_merged
            or self.profiles_split
            or self.identifiers_dropped
            or self.identifiers_added
        )


def replay(rules: dict[str, TypeRule], observations: Iterable[dict]) -> dict[Identifier, int]:
    """Resolve the observations in order from nothing; returns identifier -> group."""
    # Tuples: the garbage collector stops tracking a tuple of strings, not a list (with lists kept
    # for a whole replay, its collections cost more than the union-find saves).
    events: list[tuple[Identifier, ...]] = []
    linked: dict[int, list[Identifier]] = {}
    for event in observations:
        identifiers = extract(rules, event).identifiers
        previous = event.get("previous_id")
        targets = alias_targets(rules, previous) if previous else []
        if identifiers or targets:
            if targets:
                linked[len(events)] = targets
            events.append(tuple(identifiers))
    return resolve_batch(rules, events, linked).owner


def _groups(owner: dict[Identifier, int], keys: Iterable[Identifier]) -> dict[int, list]:
    groups: dict[int, list[Identifier]] = defaultdict(list)
    for key in keys:
        groups[owner[key]].append(key)
    return groups


def compare(
    before: dict[Identifier, int],
    after: dict[Identifier, int],
    current: dict[Identifier, int],
    *,
    focus: str | None = None,
    max_samples: int = MAX_SAMPLES,
) -> Impact:
    """Compare two replays; `current` maps identifiers to today's profiles (for the samples).

    `focus` is the identity type being changed: a merge sample lists its identifiers.
    """
    impact = Impact()
    common = before.keys() & after.keys()
    new_members = _groups(after, after)
    merges: list[Sample] = []
    splits: list[Sample] = []
    drops: list[Sample] = []

    merged_profiles: set[int] = set()
    for new_group, members in sorted(_groups(after, common).items(), key=_by_first):
        if len({before[i] for i in members}) < 2:
            continue
        held = new_members[new_group]
        profiles = tuple(sorted({current[i] for i in held if i in current}))
        if len(profiles) < 2:
            continue
        impact.merge_groups += 1
        merged_profiles.update(profiles)
        shown = [i for i in held if i[0] == focus] if focus else []
        merges.append(Sample("merge", profiles, tuple(sorted(shown or held))))
    impact.profiles_merged = len(merged_profiles)

    held_today: dict[int, list[Identifier]] = defaultdict(list)
    for identifier in sorted(common):
        if identifier in current:
            held_today[current[identifier]].append(identifier)
    for profile, members in sorted(held_today.items()):
        by_new = _groups(after, members)
        if len(by_new) <= len({before[i] for i in members}):
            continue
        parts = sorted((tuple(p) for p in by_new.values()), key=lambda p: (-len(p), p))
        impact.profiles_split += 1
        impact.identifiers_split_off += sum(len(part) for part in parts[1:])
        splits.append(Sample("split", (profile,), parts=tuple(parts)))

    dropped = sorted(before.keys() - after.keys())
    impact.identifiers_dropped = len(dropped)
    impact.identifiers_added = len(after.keys() - before.keys())
    by_profile: dict[int, list[Identifier]] = defaultdict(list)
    for identifier in dropped:
        if identifier in current:
            by_profile[current[identifier]].append(identifier)
    impact.profiles_losing_identifiers = len(by_profile)
    drops = [Sample("drop", (p,), tuple(ids)) for p, ids in sorted(by_profile.items())]

    impact.samples = _take_in_turn([merges, splits, drops], max_samples)
    return impact


def _take_in_turn(kinds: list[list[Sample]], limit: int) -> list[Sample]:
    """Up to `limit` samples, taking one of each kind in turn so every kind shows."""
    taken: list[Sample] = []
    for round_ in zip_longest(*kinds):
        taken.extend(sample for sample in round_ if sample is not None)
    chosen = set(map(id, taken[:limit]))
    return [sample for kind in kinds for sample in kind if id(sample) in chosen]


def _by_first(item: tuple[int, list[Identifier]]) -> Identifier:
    return min(item[1])


def simulate(
    old_rules: dict[str, TypeRule],
    new_rules: dict[str, TypeRule],
    observations: list[dict],
    current: dict[Identifier, int],
    *,
    focus: str | None = None,
) -> Impact:
    """Replay the observations under both rule sets and compare the partitions."""
    impact = compare(
        replay(old_rules, observations),
        replay(new_rules, observations),
        current,
        focus=focus,
    )
    impact.observations = len(observations)
    return impact
