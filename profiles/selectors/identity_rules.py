"""Reads for the identity-rules pages: identity types, survivorship rules, their history, and the
data a rule simulation replays."""

from collections.abc import Iterator

import orjson
from django.db import connection

from profiles.domain.identity import TypeRule
from profiles.domain.resolution import Identifier
from profiles.domain.simulation import Impact, simulate
from profiles.models import IdentityType, RuleChange, Source, SurvivorshipRule
from profiles.services.processing import identity_rules, type_rule

_FETCH = 5000


def identity_type_list():
    """Every identity type, enabled or not, highest priority first."""
    return IdentityType.objects.order_by("-priority", "name")


def survivorship_rule_list() -> list[SurvivorshipRule]:
    """The survivorship rules, the default '*' first, each with its sources' names in order."""
    rules = sorted(SurvivorshipRule.objects.all(), key=lambda r: (r.trait != "*", r.trait.lower()))
    names = source_names()
    for rule in rules:
        rule.source_names = [names.get(s, f"source {s} (deleted)") for s in rule.source_priority]
    return rules


def source_names() -> dict[int, str]:
    """Source id -> name."""
    return dict(Source.objects.values_list("pk", "name"))


def rule_change_list(*, kind: str | None = None, limit: int = 200) -> list[RuleChange]:
    """The newest rule changes, each with `changes`: what differs, formatted for people."""
    changes = RuleChange.objects.select_related("actor").order_by("-at", "-id")
    if kind:
        changes = changes.filter(kind=kind)
    found = list(changes[:limit])
    names = source_names()
    for change in found:
        before, after = change.before or {}, change.after or {}
        change.changes = [
            {
                "field": key.replace("_", " "),
                "before": _display(key, before.get(key), names),
                "after": _display(key, after.get(key), names),
            }
            for key in dict.fromkeys([*before, *after])
            if key not in ("name", "trait") and before.get(key) != after.get(key)
        ]
    return found


def _display(field: str, value, names: dict[int, str]) -> str:
    if value is None or value == []:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field == "source_priority":
        return " > ".join(names.get(s, f"source {s}") for s in value)
    if isinstance(value, list):
        return ", ".join(map(str, value))
    return str(value)


def _observations(trait_keys: list[str]) -> Iterator[dict]:
    """Each distinct combination of identifier fields in processed events, first seen first.

    Grouping in the database keeps repeated page views of one visitor to one row; the rows are
    streamed from a server-side cursor.
    """
    merged = ", ".join(
        "%s::text, coalesce(traits -> %s, context -> 'traits' -> %s)" for _ in trait_keys
    )
    params: list[str] = [key for key in trait_keys for _ in range(3)]
    sql = (  # only placeholders are formatted in; the trait keys are parameters
        "SELECT min(id), user_id, anonymous_id, "  # noqa: S608
        "CASE WHEN type = 'alias' THEN previous_id END AS previous, "
        "context -> 'device' -> 'id' AS device, context -> 'externalIds' AS external, "
        f"jsonb_strip_nulls(jsonb_build_object({merged})) AS traits "
        "FROM profiles_event WHERE processed_at IS NOT NULL "
        "GROUP BY 2, 3, 4, 5, 6, 7 ORDER BY 1"
    )
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(_FETCH):
            for _, user_id, anonymous_id, previous, device, external, traits in rows:
                context: dict = {}
                if device is not None:
                    context["device"] = {"id": _json(device)}
                if external is not None:
                    context["externalIds"] = _json(external)
                yield {
                    "type": "alias" if previous is not None else "observed",
                    "user_id": user_id,
                    "anonymous_id": anonymous_id,
                    "previous_id": previous,
                    "traits": _json(traits),
                    "context": context,
                }


def _json(value):
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _current_owners() -> dict[Identifier, int]:
    """Every stored identifier -> the profile holding it today."""
    owners: dict[Identifier, int] = {}
    with connection.chunked_cursor() as cursor:
        cursor.execute("SELECT id_type, value, profile_id FROM profiles_identity")
        while rows := cursor.fetchmany(_FETCH):
            owners.update(((t, v), p) for t, v, p in rows)
    return owners


def rules_simulate(
    old_rules: dict[str, TypeRule], new_rules: dict[str, TypeRule], *, focus: str | None = None
) -> Impact:
    """What resolving the identifiers of processed events under `new_rules` instead of
    `old_rules` would change for today's profiles."""
    keys = sorted(
        {k for rules in (old_rules, new_rules) for r in rules.values() for k in r.trait_keys}
    )
    observations = list(_observations(keys))
    return simulate(old_rules, new_rules, observations, _current_owners(), focus=focus)


def identity_type_simulate(*, proposed: IdentityType) -> Impact:
    """The impact of saving `proposed` (an identity type with unsaved changes, or a new one)."""
    old_rules = identity_rules()
    new_rules = {name: rule for name, rule in old_rules.items() if name != proposed.name}
    if proposed.enabled:
        new_rules[proposed.name] = type_rule(proposed)
    return rules_simulate(old_rules, new_rules, focus=proposed.name)
