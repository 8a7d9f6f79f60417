"""Identifiers: normalise values and extract them from collected events. Pure (no ORM).

Each identity type has a normaliser (email, phone to E.164, custom regex, trimmed text), blocked
values, and the trait keys that carry it. `extract` returns every identifier of one event, with
the blocked ones listed apart (they are counted for the junk-identifier alert, never resolved on).
"""

import re
from dataclasses import dataclass, field
from functools import lru_cache

import phonenumbers

_ALL_ZERO = re.compile(r"^[0\-\s.:]+$")


@dataclass(frozen=True)
class TypeRule:
    name: str
    normaliser: str = "trim"  # email | phone | regex | trim
    pattern: str = ""
    default_region: str = "GB"
    trait_keys: tuple[str, ...] = ()
    priority: int = 50
    max_per_profile: int | None = None
    blocked_values: frozenset[str] = frozenset()
    verified: bool = False


@dataclass
class Extracted:
    identifiers: list[tuple[str, str]] = field(default_factory=list)  # (type, value), no repeats
    blocked: list[tuple[str, str]] = field(default_factory=list)
    invalid: list[tuple[str, str, str]] = field(default_factory=list)  # (type, raw, reason)


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern:
    return re.compile(pattern)


def normalise(rule: TypeRule, raw: object) -> str:
    """The normalised value of `raw` for `rule`; raises ValueError with the reason if unusable."""
    if raw is None or isinstance(raw, bool | dict | list):
        raise ValueError("not a scalar value")
    text = str(raw).strip()
    if not text:
        raise ValueError("empty")
    if rule.normaliser == "email":
        text = text.lower()
        local, at, domain = text.partition("@")
        if not at or not local or "." not in domain or " " in text:
            raise ValueError("not an email address")
        return text
    if rule.normaliser == "phone":
        try:
            number = phonenumbers.parse(text, rule.default_region or None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"not a phone number ({exc})") from exc
        # "possible", not "valid": reserved test ranges and new allocations are still people's.
        if not phonenumbers.is_possible_number(number):
            raise ValueError("not a possible phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if rule.normaliser == "regex":
        if rule.pattern and not _compiled(rule.pattern).fullmatch(text):
            raise ValueError(f"does not match {rule.pattern}")
        return text
    return text


def is_blocked(rule: TypeRule, value: str) -> bool:
    """Junk values: configured ones (case-insensitive) and ids made only of zeros."""
    lowered = value.lower()
    return lowered in rule.blocked_values or bool(_ALL_ZERO.match(value))


def _synthetic_anonymous_id(context: object) -> bool:
    """A file-import row with no anonymous id column gets one made up (the Segment Spec needs
    an id); it names nobody, so it is not an identifier."""
    if not isinstance(context, dict) or "csvImport" not in context:
        return False
    external = context.get("externalIds") or []
    return not any(isinstance(i, dict) and i.get("type") == "anonymous_id" for i in external)


def _candidates(rules: dict[str, TypeRule], event: dict) -> list[tuple[str, object]]:
    """Raw (type, value) pairs carried by an event, before normalisation."""
    found: list[tuple[str, object]] = []
    if event.get("user_id") is not None and "user_id" in rules:
        found.append(("user_id", event["user_id"]))
    context = event.get("context") or {}
    anonymous = event.get("anonymous_id")
    if anonymous is not None and "anonymous_id" in rules and not _synthetic_anonymous_id(context):
        found.append(("anonymous_id", anonymous))
    device = context.get("device") if isinstance(context, dict) else None
    if isinstance(device, dict) and device.get("id") is not None and "device_id" in rules:
        found.append(("device_id", device["id"]))
    traits = dict(context.get("traits") or {}) if isinstance(context, dict) else {}
    traits.update(event.get("traits") or {})
    for rule in rules.values():
        for key in rule.trait_keys:
            if traits.get(key) not in (None, ""):
                found.append((rule.name, traits[key]))
    external = context.get("externalIds") if isinstance(context, dict) else None
    if isinstance(external, list):
        for item in external:
            if isinstance(item, dict) and item.get("type") in rules and item.get("id") is not None:
                found.append((item["type"], item["id"]))
    return found


def extract(rules: dict[str, TypeRule], event: dict) -> Extracted:
    """Every normalised identifier of `event` (a dict with user_id, anonymous_id, traits, context).

    An alias event's previous_id is not returned here: it names an existing identifier of either
    id type, and `alias_targets` resolves it.
    """
    out = Extracted()
    seen: set[tuple[str, str]] = set()
    for type_name, raw in _candidates(rules, event):
        rule = rules[type_name]
        try:
            value = normalise(rule, raw)
        except ValueError as exc:
            out.invalid.append((type_name, str(raw)[:100], str(exc)))
            continue
        key = (type_name, value)
        if key in seen:
            continue
        seen.add(key)
        if is_blocked(rule, value):
            out.blocked.append(key)
        else:
            out.identifiers.append(key)
    return out


def alias_targets(rules: dict[str, TypeRule], previous_id: object) -> list[tuple[str, str]]:
    """The identifiers an alias's previousId may name: a user id or an anonymous id."""
    targets = []
    for type_name in ("user_id", "anonymous_id"):
        rule = rules.get(type_name)
        if rule is None:
            continue
        try:
            value = normalise(rule, previous_id)
        except ValueError:
            continue
        if not is_blocked(rule, value):
            targets.append((type_name, value))
    return targets
