"""Batch re-resolution from nothing: the Resolver's result over a whole sequence of events,
computed by union-find, with the Resolver's rules run only where they can matter. Pure (no ORM).

`resolve_batch(rules, events, linked)` returns exactly what a fresh `Resolver(rules, {})` calling
`resolve(events[i], linked.get(i, ()))` for every i in order would end with: the same owner of
every identifier (the same temporary profile ids, not merely the same groups), the same drops and
reviews (each with the index of its event and the same profile ids), the same number of profiles
made. Merges and origins are not returned: a re-resolution from nothing writes groups, and its
ledger entries are the drops and reviews.

Why it is exact. Call "seen" an identifier that an earlier event carried among its identifiers
(an alias's `linked` identifiers are looked up, never added, so they are seen only if an event
also carried them). The union-find joins each event's identifiers, and the linked ones that are
already seen; its components are the sets of identifiers connected that way.
1. The Resolver never joins identifiers of two components. An event's group is made of its own
   identifiers, the linked ones it owns (owned implies seen), and the holdings of their owners.
   By induction every profile's holdings lie within one component, so every group does too.
2. Within a component, the Resolver's state and decisions depend only on that component's events,
   in their order: an event reads and writes only the owners and holdings of its component's
   identifiers (1). The profile ids it makes are numbered across all events, but in the order the
   events come, so running a component's events alone gives the same decisions with ids mapped
   by one increasing map (the survivor, `max` of temporary ids, and a review's `min`/`max` are
   kept); the ids are mapped back below.
3. A component needs no rule when, for every type with a maximum per profile, it holds at most
   that many distinct identifiers. Then nothing the Resolver checks can refuse anything:
   - `_clash` compares a group's count of a type plus a profile's holdings of it with the limit;
     holdings never overlap and all lie in the component, so the sum is at most the component's
     count: no clash, hence no "would_merge_conflicting_profiles" drop and no verified-type review;
   - a new identifier is dropped ("limit_per_profile") only when the group already holds `limit`
     identifiers of its type, which with the new one would be more than the component holds;
   - priority ordering only decides which identifier loses a clash or a limit, and which
     identifier anchors the origin; with no loser it changes no owner;
   - blocked values never reach the Resolver (`extract` and `alias_targets` leave them out), so
     they never reach this function either;
   - with no drop, every seen identifier is owned, so the linked identifiers the union-find joined
     are exactly those the Resolver looks up.
   So every event merges all the profiles it touches, and at the end the whole component is one
   profile: the one its first event made (the survivor of every merge is the oldest member, the
   largest temporary id). An event makes a new profile exactly when none of its identifiers, nor
   its linked ones, is seen.
4. Every other component (some limited type with more distinct identifiers than allowed: a
   maximum of zero with any identifier, two verified user ids, a component over a lowered limit)
   is replayed by the Resolver itself, all such components' events together in their order (2).
Profiles are numbered -1, -2, ... in the order the events that make them come, merging the
events the fast path knows make one with those the replay reports.
"""

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress

from profiles.domain.identity import TypeRule
from profiles.domain.resolution import Drop, Identifier, Resolver, Review


@dataclass
class BatchResult:
    owner: dict[Identifier, int]  # as Resolver.owner: identifier -> temporary profile id
    drops: list[tuple[int, Drop]] = field(default_factory=list)  # (event index, drop), in order
    reviews: list[tuple[int, Review]] = field(default_factory=list)  # (event index, review)
    new_profiles: int = 0  # profiles made: -1 .. -new_profiles
    replayed_events: int = 0  # events of the components the Resolver's rules were run on


def resolve_batch(
    rules: dict[str, TypeRule],
    events: Sequence[Sequence[Identifier]],
    linked: Mapping[int, Sequence[Identifier]] | None = None,
) -> BatchResult:
    """What a fresh Resolver resolving `events` in order (event i with `linked[i]`, an alias's
    existing identifiers) ends with; see the module docstring for why it is the same."""
    linked = linked or {}
    limited: dict[str, list[int]] = {
        name: [] for name, rule in rules.items() if rule.max_per_profile is not None
    }
    index: dict[Identifier, int] = {}  # identifier -> node; nodes numbered in order first seen
    parent: list[int] = []
    size: list[int] = []
    makers: list[int] = []  # events that make a profile if their component needs no rule
    maker_nodes: list[int] = []  # a node of each one's component, -1 if it has no identifier
    linked_only: dict[int, int] = {}  # event with only linked identifiers -> a node

    for event, identifiers in enumerate(events):
        start = len(parent)  # nodes below this are seen
        seen = False
        root = -1
        for identifier in identifiers:
            x = index.get(identifier)
            if x is None:
                x = index[identifier] = len(parent)
                parent.append(x)
                size.append(1)
                nodes = limited.get(identifier[0])
                if nodes is not None:
                    nodes.append(x)
            else:
                if x < start:
                    seen = True
                while parent[x] != x:  # find, halving the path
                    parent[x] = x = parent[parent[x]]
            if root < 0:
                root = x
            elif x != root:  # union by size
                if size[x] > size[root]:
                    x, root = root, x
                parent[x] = root
                size[root] += size[x]
        if linked and event in linked:
            for identifier in linked[event]:
                x = index.get(identifier)
                if x is None or x >= start:
                    continue  # not seen: the Resolver does not look it up
                seen = True
                while parent[x] != x:
                    parent[x] = x = parent[parent[x]]
                if root < 0:
                    root = x
                    if not identifiers:
                        linked_only[event] = x
                elif x != root:
                    if size[x] > size[root]:
                        x, root = root, x
                    parent[x] = root
                    size[root] += size[x]
        if not seen:
            makers.append(event)
            maker_nodes.append(root)

    roots = _roots(parent)
    roots.append(-1)  # roots[-1]: the "component" of events with no identifier
    over = {
        root
        for name, nodes in limited.items()
        for root, count in Counter(map(roots.__getitem__, nodes)).items()
        if count > rules[name].max_per_profile
    }
    if not over:
        maker_roots = list(map(roots.__getitem__, maker_nodes))
        # The first event of a component made its profile: reversed, the first one is kept.
        first = dict(zip(reversed(maker_roots), range(-len(maker_roots), 0), strict=True))
        del roots[-1]
        return BatchResult(
            owner=dict(zip(index, map(first.__getitem__, roots), strict=True)),
            new_profiles=len(makers),
        )
    return _with_replay(rules, events, linked, index, roots, over, makers, maker_nodes, linked_only)


def _roots(parent: list[int]) -> list[int]:
    """The root of every node, by pointer jumping (a few passes over the whole list)."""
    roots = parent
    while True:
        jumped = list(map(roots.__getitem__, roots))
        if jumped == roots:
            return jumped
        roots = jumped


def _with_replay(
    rules: dict[str, TypeRule],
    events: Sequence[Sequence[Identifier]],
    linked: Mapping[int, Sequence[Identifier]],
    index: dict[Identifier, int],
    roots: list[int],
    over: set[int],
    makers: list[int],
    maker_nodes: list[int],
    linked_only: dict[int, int],
) -> BatchResult:
    """The Resolver over the events of the components in `over`; the rest as in the fast path."""
    resolver = Resolver(rules, {})
    resolve, made = resolver.resolve, resolver.new_profiles
    replayed_makers: list[int] = []
    local_drops: list[tuple[int, Drop]] = []
    local_reviews: list[tuple[int, Review]] = []
    replayed = 0
    for event, identifiers in enumerate(events):
        if roots[index[identifiers[0]] if identifiers else linked_only.get(event, -1)] not in over:
            continue
        replayed += 1
        before = len(made)
        decision = resolve(identifiers, linked.get(event, ()))
        if len(made) > before:
            replayed_makers.append(event)
        if decision.drops:
            local_drops += [(event, drop) for drop in decision.drops]
        if decision.reviews:
            local_reviews += [(event, review) for review in decision.reviews]

    maker_roots = list(map(roots.__getitem__, maker_nodes))
    kept = [root not in over for root in maker_roots]
    fast_events = list(compress(makers, kept))
    fast_roots = list(compress(maker_roots, kept))
    # Every event that made a profile, in order (sorting two sorted runs merges them).
    in_order = sorted(fast_events + replayed_makers)
    number = dict(zip(in_order, range(-1, -len(in_order) - 1, -1), strict=True))
    # The first event of a component made its profile: reversed, the first one is kept.
    first = dict(
        zip(reversed(fast_roots), map(number.__getitem__, reversed(fast_events)), strict=True)
    )
    # The replay numbered its own profiles -1, -2, ... in the order of its events.
    local = range(-1, -len(replayed_makers) - 1, -1)
    global_id = dict(zip(local, map(number.__getitem__, replayed_makers), strict=True))

    owner = {
        identifier: first[root]
        for identifier, root in zip(index, roots, strict=False)
        if root not in over
    }
    owner.update((identifier, global_id[p]) for identifier, p in resolver.owner.items())
    return BatchResult(
        owner=owner,
        drops=[
            (event, Drop(d.identifier, global_id[d.profile], d.reason, d.rule))
            for event, d in local_drops
        ],
        reviews=[
            (event, Review(global_id[r.profile_a], global_id[r.profile_b], r.reason))
            for event, r in local_reviews
        ],
        new_profiles=len(in_order),
        replayed_events=replayed,
    )
