"""Writes to the identity rules: identity types and survivorship rules, each change recorded.

A change applies to events processed from then on; identifiers and traits already stored are not
rewritten (the rule simulation shows what re-resolving would do).
"""

import re
from typing import Any

import phonenumbers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cdpapp.audit import audit_record
from profiles.models import IdentityType, MergeSettings, RuleChange, Source, SurvivorshipRule

TYPE_FIELDS = (
    "normaliser",
    "pattern",
    "default_region",
    "trait_keys",
    "priority",
    "max_per_profile",
    "blocked_values",
    "verified",
    "enabled",
)
RULE_FIELDS = ("rule", "source_priority", "keep_non_empty")
MERGE_SETTING_FIELDS = ("consent_conflict_review",)
MERGE_SETTINGS_NAME = "merge settings"


def identity_type_snapshot(identity_type: IdentityType) -> dict[str, Any]:
    """The rule-bearing fields of an identity type, as recorded in the change history."""
    return {"name": identity_type.name} | {
        name: getattr(identity_type, name) for name in TYPE_FIELDS
    }


def survivorship_rule_snapshot(rule: SurvivorshipRule) -> dict[str, Any]:
    """The fields of a survivorship rule, as recorded in the change history."""
    return {"trait": rule.trait} | {name: getattr(rule, name) for name in RULE_FIELDS}


def _texts(values, *, field: str, max_length: int, fold_case: bool) -> list[str]:
    """Trimmed, non-empty, without repeats (case-insensitively if `fold_case`), order kept."""
    if isinstance(values, str) or not isinstance(values, list | tuple):
        raise ValidationError({field: "Give a list of values."})
    seen: set[str] = set()
    cleaned = []
    for value in values:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise ValidationError({field: f"{value!r} is not a text value."})
        text = str(value).strip()
        key = text.lower() if fold_case else text
        if not text or key in seen:
            continue
        if len(text) > max_length:
            raise ValidationError({field: f"{text[:30]}… is longer than {max_length} characters."})
        seen.add(key)
        cleaned.append(text)
    return cleaned


def identity_type_clean(identity_type: IdentityType) -> None:
    """Validate and tidy an identity type in place, writing nothing (the simulation uses it too).

    Raises ValidationError naming each wrong field and why.
    """
    errors: dict[str, str] = {}
    identity_type.pattern = (identity_type.pattern or "").strip()
    identity_type.default_region = (identity_type.default_region or "").strip().upper()
    if identity_type.pattern:
        try:
            re.compile(identity_type.pattern)
        except re.error as exc:
            errors["pattern"] = f"This is not a valid regular expression: {exc}."
    elif identity_type.normaliser == IdentityType.Normaliser.REGEX:
        errors["pattern"] = "The custom regular expression normaliser needs a pattern."
    if identity_type.default_region not in phonenumbers.SUPPORTED_REGIONS:
        errors["default_region"] = (
            f"{identity_type.default_region or 'An empty region'} is not a region phone numbers "
            "know: use a two-letter code such as GB or US."
        )
    if identity_type.max_per_profile is not None and identity_type.max_per_profile < 1:
        errors["max_per_profile"] = (
            "A maximum of 0 would drop every identifier of this type: leave it empty for no "
            "limit, or disable the type."
        )
    try:
        identity_type.trait_keys = _texts(
            identity_type.trait_keys, field="trait_keys", max_length=100, fold_case=False
        )
        identity_type.blocked_values = _texts(
            identity_type.blocked_values, field="blocked_values", max_length=255, fold_case=True
        )
    except ValidationError as exc:
        errors.update({key: value[0] for key, value in exc.message_dict.items()})
    try:
        identity_type.full_clean()
    except ValidationError as exc:
        for key, messages in exc.message_dict.items():
            errors.setdefault(key, messages[0])
    if errors:
        raise ValidationError(errors)


def _record(kind: str, name: str, before, after, actor) -> RuleChange:
    """The rule history row, and the platform's audit log entry."""
    change = RuleChange.objects.create(
        kind=kind, object_name=name, before=before, after=after, actor=actor, at=timezone.now()
    )
    verb = "created" if before is None else "removed" if after is None else "changed"
    audit_record(
        actor=actor,
        action=f"{kind}.{verb}",
        object_type=kind,
        object_id=name,
        before=_for_audit(before),
        after=_for_audit(after),
    )
    return change


def _for_audit(snapshot: dict | None) -> dict | None:
    # Blocked values may be someone's address typed in by an admin: the audit log keeps no PII.
    if snapshot is None or "blocked_values" not in snapshot:
        return snapshot
    values = snapshot["blocked_values"]
    return {k: v for k, v in snapshot.items() if k != "blocked_values"} | {
        "blocked_values_count": len(values)
    }


@transaction.atomic
def identity_type_create(*, name: str, actor=None, **fields) -> IdentityType:
    """Create an identity type after validating it; records the change."""
    unknown = set(fields) - set(TYPE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown identity type fields: {', '.join(sorted(unknown))}")
    identity_type = IdentityType(name=(name or "").strip(), **fields)
    identity_type_clean(identity_type)
    identity_type.save()
    _record(
        RuleChange.Kind.IDENTITY_TYPE,
        identity_type.name,
        None,
        identity_type_snapshot(identity_type),
        actor,
    )
    return identity_type


@transaction.atomic
def identity_type_update(*, identity_type: IdentityType, actor=None, **changes) -> IdentityType:
    """Change an identity type's rules after validating them; records the change if any."""
    if "name" in changes:
        raise ValidationError(
            {"name": "An identity type cannot be renamed: its identifiers are stored under it."}
        )
    unknown = set(changes) - set(TYPE_FIELDS)
    if unknown:
        raise TypeError(f"Unknown identity type fields: {', '.join(sorted(unknown))}")
    current = IdentityType.objects.select_for_update().get(pk=identity_type.pk)
    before = identity_type_snapshot(current)
    for name, value in changes.items():
        setattr(current, name, value)
    identity_type_clean(current)
    after = identity_type_snapshot(current)
    if after != before:
        current.save()
        _record(RuleChange.Kind.IDENTITY_TYPE, current.name, before, after, actor)
    return current


def _clean_sources(source_priority) -> list[int]:
    if isinstance(source_priority, str) or not isinstance(source_priority, list | tuple):
        raise ValidationError(
            {"source_priority": "Give the sources as a list, most trusted first."}
        )
    ids: list[int] = []
    for item in source_priority:
        try:
            source_id = int(item)
        except (TypeError, ValueError):
            raise ValidationError({"source_priority": f"{item!r} is not a source id."}) from None
        if source_id in ids:
            raise ValidationError({"source_priority": f"Source {source_id} is listed twice."})
        ids.append(source_id)
    missing = set(ids) - set(Source.objects.filter(pk__in=ids).values_list("pk", flat=True))
    if missing:
        raise ValidationError(
            {"source_priority": f"No source with id {', '.join(map(str, sorted(missing)))}."}
        )
    return ids


@transaction.atomic
def survivorship_rule_set(
    *,
    trait: str,
    rule: str,
    source_priority: list[int] | tuple[int, ...] = (),
    keep_non_empty: bool = True,
    actor=None,
) -> SurvivorshipRule:
    """Create or change the survivorship rule of one trait ('*': the default); records it."""
    trait = (trait or "").strip()
    if not trait:
        raise ValidationError({"trait": "Name the trait, or '*' for the default rule."})
    if len(trait) > 100:
        raise ValidationError({"trait": "A trait name has at most 100 characters."})
    if rule not in SurvivorshipRule.Rule.values:
        choices = ", ".join(SurvivorshipRule.Rule.values)
        raise ValidationError({"rule": f"Unknown rule {rule!r}: choose one of {choices}."})
    sources = _clean_sources(source_priority)
    if rule == SurvivorshipRule.Rule.SOURCE_PRIORITY and not sources:
        raise ValidationError(
            {"source_priority": "Source priority needs at least one source, most trusted first."}
        )
    if rule != SurvivorshipRule.Rule.SOURCE_PRIORITY:
        sources = []
    found = SurvivorshipRule.objects.select_for_update().filter(trait=trait).first()
    before = survivorship_rule_snapshot(found) if found else None
    target = found or SurvivorshipRule(trait=trait)
    target.rule, target.source_priority, target.keep_non_empty = rule, sources, bool(keep_non_empty)
    after = survivorship_rule_snapshot(target)
    if after != before:
        target.save()
        _record(RuleChange.Kind.SURVIVORSHIP_RULE, trait, before, after, actor)
    return target


@transaction.atomic
def survivorship_rule_delete(*, rule: SurvivorshipRule, actor=None) -> None:
    """Remove a trait's own rule (the default '*' then applies); records it."""
    if rule.trait == "*":
        raise ValidationError({"trait": "The default rule '*' cannot be removed; change it."})
    before = survivorship_rule_snapshot(rule)
    rule.delete()
    _record(RuleChange.Kind.SURVIVORSHIP_RULE, before["trait"], before, None, actor)


def merge_settings_snapshot(merge_settings: MergeSettings) -> dict[str, Any]:
    """The merge settings, as recorded in the change history."""
    return {name: getattr(merge_settings, name) for name in MERGE_SETTING_FIELDS}


@transaction.atomic
def merge_settings_update(*, consent_conflict_review: bool, actor=None) -> MergeSettings:
    """Change how automatic merges treat conflicting consent; records the change if any."""
    MergeSettings.objects.get_or_create(pk=1)  # the defaults, until first changed
    current = MergeSettings.objects.select_for_update().get(pk=1)
    before = merge_settings_snapshot(current)
    current.consent_conflict_review = bool(consent_conflict_review)
    after = merge_settings_snapshot(current)
    if after != before:
        current.save()
        _record(RuleChange.Kind.MERGE_SETTING, MERGE_SETTINGS_NAME, before, after, actor)
    return current
