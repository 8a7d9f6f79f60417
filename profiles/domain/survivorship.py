"""Golden-profile traits: which value survives when sources disagree, with lineage. Pure.

Lineage per trait: {"source": id, "event": id, "at": ISO time, "counts": {value: n}} where
counts is kept only for the most-frequent rule.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

MOST_RECENT = "most_recent"
FIRST_SEEN = "first_seen"
SOURCE_PRIORITY = "source_priority"
MOST_FREQUENT = "most_frequent"
_MAX_COUNTED = 20  # values remembered per trait for the most-frequent rule
_LONG_AGO = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class TraitRule:
    rule: str = MOST_RECENT
    source_priority: tuple[int, ...] = ()
    keep_non_empty: bool = True


DEFAULT_RULE = TraitRule()


def rule_for(rules: dict[str, TraitRule], trait: str) -> TraitRule:
    return rules.get(trait) or rules.get("*") or DEFAULT_RULE


def is_empty(value: object) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _rank(rule: TraitRule, source: int | None) -> int:
    try:
        return rule.source_priority.index(source)
    except ValueError:
        return len(rule.source_priority)


def _count_key(value: object) -> str:
    return value if isinstance(value, str) else repr(value)


def offer(
    traits: dict,
    lineage: dict,
    key: str,
    value: object,
    *,
    source: int | None,
    event: int | None,
    at: datetime,
    rule: TraitRule,
    weight: int = 1,
) -> bool:
    """Offer one value for `key`; updates traits and lineage in place, True if the value won."""
    if is_empty(value) and rule.keep_non_empty:
        return False
    current = lineage.get(key)
    iso = at.isoformat()
    counts = dict(current.get("counts", {})) if current else {}
    if rule.rule == MOST_FREQUENT:
        counts[_count_key(value)] = counts.get(_count_key(value), 0) + weight
        if len(counts) > _MAX_COUNTED:
            counts = dict(sorted(counts.items(), key=lambda item: -item[1])[:_MAX_COUNTED])
    if key not in traits or current is None:
        wins = True
    elif rule.rule == MOST_RECENT:
        wins = iso >= current["at"]
    elif rule.rule == FIRST_SEEN:
        wins = iso < current["at"]
    elif rule.rule == SOURCE_PRIORITY:
        mine, theirs = _rank(rule, source), _rank(rule, current.get("source"))
        wins = mine < theirs or (mine == theirs and iso >= current["at"])
    else:  # most frequent, ties to the most recent
        mine = counts.get(_count_key(value), 0)
        theirs = counts.get(_count_key(traits[key]), 0)
        wins = mine > theirs or (mine == theirs and iso >= current["at"])
    if wins:
        traits[key] = value
        lineage[key] = {"source": source, "event": event, "at": iso}
    elif current is not None:
        lineage[key] = dict(current)
    if rule.rule == MOST_FREQUENT:
        lineage[key]["counts"] = counts
    return wins


def apply(
    traits: dict,
    lineage: dict,
    incoming: dict,
    *,
    source: int | None,
    event: int | None,
    at: datetime,
    rules: dict[str, TraitRule],
) -> bool:
    """Offer every trait of one event; True if any trait changed."""
    changed = False
    for key, value in incoming.items():
        before = traits.get(key)
        offer(
            traits, lineage, key, value,
            source=source, event=event, at=at, rule=rule_for(rules, key),
        )  # fmt: skip
        changed = changed or traits.get(key) != before
    return changed


def combine(
    a_traits: dict, a_lineage: dict, b_traits: dict, b_lineage: dict, rules: dict[str, TraitRule]
) -> tuple[dict, dict]:
    """The traits of two merged profiles: each of b's values is offered to a's, with its lineage."""
    traits, lineage = dict(a_traits), {key: dict(value) for key, value in a_lineage.items()}
    for key, value in b_traits.items():
        meta = b_lineage.get(key, {})
        at = datetime.fromisoformat(meta["at"]) if meta.get("at") else _LONG_AGO
        rule = rule_for(rules, key)
        if rule.rule == MOST_FREQUENT and key in lineage:
            # Counts add up: fold b's counts into a's before offering b's winner.
            merged = dict(lineage[key].get("counts", {}))
            for counted, n in meta.get("counts", {}).items():
                merged[counted] = merged.get(counted, 0) + n
            lineage[key]["counts"] = merged
            weight = 0
        else:
            weight = meta.get("counts", {}).get(_count_key(value), 1)
        offer(
            traits, lineage, key, value,
            source=meta.get("source"), event=meta.get("event"), at=at, rule=rule, weight=weight,
        )  # fmt: skip
    return traits, lineage


def apply_consent(
    consent: dict, choices: dict, *, source, event, at: datetime, details: dict | None = None
) -> bool:
    """Record consent choices {purpose: granted}; the most recent decision per purpose wins.

    `details` (status, expires_at, legal_basis) come with decisions made through the consent
    API, the admin UI or the preference centre.
    """
    changed = False
    iso = at.isoformat()
    for purpose, granted in choices.items():
        current = consent.get(purpose)
        if current is None or iso >= current["at"]:
            if current is None or current.get("granted") != granted or current["at"] != iso:
                changed = True
            consent[purpose] = {
                "granted": bool(granted),
                "at": iso,
                "source": source,
                "event": event,
                **(details or {}),
            }
    return changed


def combine_consent(a: dict, b: dict) -> dict:
    """Consent of two merged profiles: per purpose, the most recent decision wins."""
    merged = {purpose: dict(value) for purpose, value in a.items()}
    for purpose, value in b.items():
        if purpose not in merged or value["at"] > merged[purpose]["at"]:
            merged[purpose] = dict(value)
    return merged
