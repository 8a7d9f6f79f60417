"""Consent at merge time, for the processor: each automatic merge's conflicting recent consent
decisions are noted (and recorded with its ledger entry), and when the merge settings say so,
two profiles whose consent conflicts are sent to review instead of being merged.

The check runs beside the Resolver, one event at a time: before an event is resolved, if its
identifiers belong to two or more profiles (a merge is about to happen) and review is on, the
profiles whose consent conflicts with the profile of the event's highest-priority identifier
(and those merging with it) lose their identifiers from this event, so the Resolver does not
merge them; the event still lands on a profile and nothing is dropped. Consent is read only for
profiles about to merge: in one query per batch for those the batch's events link from the
start, then for the few linked through an identifier first seen in the same batch. It is the
consent the profiles held before the batch: decisions carried by the batch's own events are
folded in afterwards.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from profiles.domain.consent_conflicts import ConsentConflict, conflict_reason
from profiles.domain.identity import TypeRule
from profiles.domain.resolution import Decision, Identifier, Resolver
from profiles.domain.survivorship import combine_consent
from profiles.models import MatchCandidate, Profile
from profiles.selectors.merge_settings import merge_consent_conflicts, merge_settings_get

CONSENT_REVIEW_REASON = "consent_conflict"


@dataclass
class HeldBack:
    """Two profiles not merged because their consent conflicts (Resolver keys)."""

    anchor: int
    other: int
    conflicts: list[ConsentConflict]
    event_id: int


@dataclass
class MergeConsent:
    rules: dict[str, TypeRule]
    held: list[HeldBack] = field(default_factory=list)
    # (survivor, absorbed) Resolver keys -> the conflicts that merge brings.
    flags: dict[tuple[int, int], list[ConsentConflict]] = field(default_factory=dict)
    _stored: dict[int, dict] = field(default_factory=dict)  # read from the database
    _current: dict[int, dict] = field(default_factory=dict)  # after this batch's merges
    _review: bool | None = None

    def prefetch(self, resolver: Resolver, extracted: Iterable[tuple[list, list]]) -> None:
        """Read, in one query, the consent of every profile the events link from the start."""
        owner = resolver.owner
        wanted: set[int] = set()
        for identifiers, linked in extracted:
            owners = {owner.get(i) for i in identifiers} | {owner.get(i) for i in linked}
            owners.discard(None)
            if len(owners) > 1:
                wanted |= owners
        self._load(wanted)

    def _load(self, keys: Iterable[int]) -> None:
        missing = [key for key in keys if key > 0 and key not in self._stored]
        if missing:
            found = dict(Profile.objects.filter(pk__in=missing).values_list("pk", "consent"))
            self._stored.update({key: found.get(key) or {} for key in missing})

    def consent(self, key: int) -> dict:
        """A profile's consent as it stands in the batch (a new profile has none yet)."""
        found = self._current.get(key)
        if found is not None:
            return found
        return (self._stored.get(key) or {}) if key > 0 else {}

    def review_on(self) -> bool:
        if self._review is None:
            self._review = merge_settings_get().consent_conflict_review
        return self._review

    def before(
        self, resolver: Resolver, event_id: int, identifiers: list, linked: list
    ) -> tuple[list[Identifier], list[Identifier]]:
        """The identifiers to resolve: without those of profiles held back for review."""
        if self._review is False:
            return identifiers, linked
        owner = resolver.owner
        distinct = {owner.get(i) for i in identifiers} | {owner.get(i) for i in linked}
        distinct.discard(None)
        if len(distinct) < 2 or not self.review_on():
            return identifiers, linked
        priority = {name: rule.priority for name, rule in self.rules.items()}
        ordered = sorted(set(identifiers), key=lambda i: (-priority.get(i[0], 0), i))
        ordered += [i for i in linked if i not in ordered]
        owners = list(dict.fromkeys(o for i in ordered if (o := owner.get(i)) is not None))
        self._load(owners)
        anchor, combined, held = owners[0], self.consent(owners[0]), set()
        for other in owners[1:]:
            conflicts = merge_consent_conflicts(combined, self.consent(other))
            if conflicts:
                held.add(other)
                self.held.append(HeldBack(anchor, other, conflicts, event_id))
            else:
                combined = combine_consent(combined, self.consent(other))
        if not held:
            return identifiers, linked
        return (
            [i for i in identifiers if owner.get(i) not in held],
            [i for i in linked if owner.get(i) not in held],
        )

    def after(self, decision: Decision) -> None:
        """Note the conflicts each of the decision's merges brings, and the merged consent."""
        if not decision.merges:
            return
        self._load([decision.profile, *(merge.absorbed for merge in decision.merges)])
        for merge in decision.merges:
            survivor, absorbed = self.consent(merge.survivor), self.consent(merge.absorbed)
            conflicts = merge_consent_conflicts(survivor, absorbed)
            if conflicts:
                self.flags[(merge.survivor, merge.absorbed)] = conflicts
            self._current[merge.survivor] = combine_consent(survivor, absorbed)

    def review_candidates(self, resolver: Resolver) -> list[MatchCandidate]:
        """A pending review candidate per pair held back (as they stand after the batch)."""
        candidates: dict[tuple[int, int], MatchCandidate] = {}
        for held in self.held:
            first, second = resolver.canonical(held.anchor), resolver.canonical(held.other)
            if first == second or first <= 0 or second <= 0:
                continue
            key = (min(first, second), max(first, second))
            if key in candidates:
                continue
            swap = first > second
            candidates[key] = MatchCandidate(
                profile_a_id=key[0],
                profile_b_id=key[1],
                score=1.0,
                reason=CONSENT_REVIEW_REASON,
                explanation={
                    "conflict": conflict_reason(held.conflicts),
                    "event": held.event_id,
                    "consent": [
                        {
                            "purpose": c.purpose,
                            "profile_a": (c.b if swap else c.a).as_dict(),
                            "profile_b": (c.a if swap else c.b).as_dict(),
                        }
                        for c in held.conflicts
                    ],
                },
            )
        return list(candidates.values())
