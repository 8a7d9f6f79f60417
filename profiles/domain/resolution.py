"""Deterministic identity resolution over a micro-batch of events. Pure (no ORM).

The resolver holds, for the profiles a batch touches, which identifiers each owns. For each event
it walks the event's identifiers from the highest priority down, growing one group:
- an identifier owned by a profile pulls that profile into the group, unless the union would
  break a type's maximum per profile: then this (lower-priority) identifier is dropped and
  recorded instead of merging two people, and when the clash is on a verified type the two
  profiles are proposed for review;
- a new identifier joins the group if the group has room for it, else it is dropped.
The group's profiles are merged into the oldest one (or a new profile is made) and the event is
attached to it. Profile keys are ints: existing ids, or negative temporary ids for new profiles.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from profiles.domain.identity import TypeRule

Identifier = tuple[str, str]


@dataclass
class Merge:
    survivor: int
    absorbed: int
    via: Identifier
    reason: str


@dataclass
class Drop:
    identifier: Identifier
    profile: int  # the profile the event went to
    reason: str
    rule: str


@dataclass
class Review:
    profile_a: int
    profile_b: int
    reason: str


@dataclass(slots=True)
class Decision:
    profile: int
    origin: int  # the profile of the identifier that anchored the event (for unmerge)
    new_identities: list[Identifier] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    reviews: list[Review] = field(default_factory=list)


class Resolver:
    def __init__(
        self,
        rules: dict[str, TypeRule],
        owners: dict[Identifier, tuple[int, int]],
    ) -> None:
        """`owners`: identifier -> (profile, origin profile) for what the database already has."""
        self.rules = rules
        self.owner: dict[Identifier, int] = {key: p for key, (p, _) in owners.items()}
        self.origin: dict[Identifier, int] = {key: o for key, (_, o) in owners.items()}
        self.holdings: dict[int, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        for (type_name, value), profile in self.owner.items():
            self.holdings[profile][type_name].add(value)
        self._next_new = -1
        self.new_profiles: list[int] = []
        self._merged: dict[int, int] = {}
        priorities = {name: rule.priority for name, rule in rules.items()}
        self._order = lambda i: (-priorities.get(i[0], 0), i)  # highest priority first
        self._limits = {
            name: rule.max_per_profile
            for name, rule in rules.items()
            if rule.max_per_profile is not None
        }

    def _clash(self, counts: dict[str, int], extra: dict[str, set[str]]) -> str | None:
        """None if `extra` can join a group holding `counts` identifiers of each limited type;
        else the name of the type whose limit it breaks.

        Counting is enough: each identifier has one owner, so what two profiles hold never
        overlaps, and a new identifier is held by nobody. A type the group does not hold yet
        never clashes: a profile over a limit lowered since it grew keeps its identifiers and
        its events (it still cannot take more, nor be merged with another holding that type).
        """
        for type_name, values in extra.items():
            limit = self._limits.get(type_name)
            if (
                limit is not None
                and type_name in counts
                and counts[type_name] + len(values) > limit
            ):
                return type_name
        return None

    def resolve(self, identifiers: list[Identifier], linked: list[Identifier] = ()) -> Decision:
        """Resolve one event's identifiers; `linked` are alias previous ids (only existing ones)."""
        owner_of = self.owner.get
        ordered = sorted(set(identifiers), key=self._order)
        if linked:
            ordered += [i for i in linked if i in self.owner and i not in ordered]
        owners = [owner_of(i) for i in ordered]
        if owners and owners[0] is not None and owners.count(owners[0]) == len(owners):
            # A known person again: nothing to change.
            return Decision(profile=owners[0], origin=self.origin.get(ordered[0], owners[0]))
        limits = self._limits
        counts: dict[str, int] = {}  # identifiers of the group, per limited type
        members: list[int] = []
        anchor_origin: int | None = None
        adds: list[Identifier] = []
        drops: list[tuple[Identifier, str, str]] = []
        reviews: list[tuple[int, str]] = []
        for identifier, owner in zip(ordered, owners, strict=True):
            if owner is not None:
                if owner in members:
                    continue
                held = self.holdings[owner]
                clash = self._clash(counts, held)
                if clash is None:
                    members.append(owner)
                    for type_name in limits:
                        if type_name in held:
                            counts[type_name] = counts.get(type_name, 0) + len(held[type_name])
                    if anchor_origin is None:
                        anchor_origin = self.origin.get(identifier, owner)
                else:
                    drops.append((identifier, "would_merge_conflicting_profiles", clash))
                    if self.rules[clash].verified:
                        reviews.append((owner, f"verified_{clash}_conflict"))
            else:
                type_name = identifier[0]
                limit = limits.get(type_name)
                if limit is None:
                    adds.append(identifier)
                elif counts.get(type_name, 0) < limit:
                    counts[type_name] = counts.get(type_name, 0) + 1
                    adds.append(identifier)
                else:
                    drops.append((identifier, "limit_per_profile", type_name))
        if len(members) == 1:
            survivor = members[0]
        elif members:
            # The oldest existing profile, else the first new one of this batch.
            survivor = min((p for p in members if p > 0), default=None) or max(members)
        else:
            survivor = self._new_profile()
        origin = anchor_origin or survivor
        merges = []
        for other in members:
            if other == survivor:
                continue
            via = next(i for i in ordered if self.owner.get(i) == other)
            reason = "alias" if via in linked else "shared_identifier"
            merges.append(Merge(survivor, other, via, reason))
            self._absorb(survivor, other)
        held = self.holdings[survivor]
        for identifier in adds:
            self.owner[identifier] = survivor
            self.origin[identifier] = origin
            held[identifier[0]].add(identifier[1])
        decision = Decision(survivor, origin, adds, merges)
        for identifier, reason, clash in drops:
            decision.drops.append(Drop(identifier, survivor, reason, f"max {clash} per profile"))
        for other, reason in reviews:
            other = self.canonical(other)
            if other != survivor:
                decision.reviews.append(Review(min(survivor, other), max(survivor, other), reason))
        return decision

    def _new_profile(self) -> int:
        key = self._next_new
        self._next_new -= 1
        self.new_profiles.append(key)
        return key

    def _absorb(self, survivor: int, absorbed: int) -> None:
        for type_name, values in self.holdings.pop(absorbed, {}).items():
            self.holdings[survivor][type_name] |= values
            for value in values:
                self.owner[(type_name, value)] = survivor
        self._merged[absorbed] = survivor

    def canonical(self, profile: int) -> int:
        """The profile `profile` was merged into during this batch (or itself)."""
        while profile in self._merged:
            profile = self._merged[profile]
        return profile
