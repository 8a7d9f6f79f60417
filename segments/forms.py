"""Forms of the segment pages: the builder's state, a node editor's fields, save, overlap.

A node editor posts plain strings; `node_fields` turns them into the typed fields of a definition
node for `tree.update_node`, which validates. Strings that cannot be typed are passed through as
they are, so that validation names the node and says what is wrong.
"""

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from segments.domain.definition import (
    AGGREGATES,
    COMPARISONS,
    DefinitionError,
    validate,
)
from segments.models import Segment

# Sensible values for fields the editor did not show before a change made them needed.
WINDOW_DEFAULTS = {"days": 30, "from": 30, "to": 60}


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON value")


def loads(text: str) -> Any:
    """JSON as PostgreSQL takes it: any size of integer, no NaN or Infinity."""
    return json.loads(text, parse_constant=_no_constants)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_scalar(text: str) -> Any:
    """A typed value from what a person typed: 12 → 12, true → True, "12" → '12', abc → 'abc'."""
    text = text.strip()
    if text == "":
        return None
    try:
        value = loads(text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float | str) else text


def parse_number(text: str | None) -> Any:
    if text is None or text.strip() == "":
        return None
    text = text.strip()
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def scalar_text(value: Any) -> str:
    """The text that `parse_scalar` turns back into `value`."""
    if value is None:
        return ""
    if isinstance(value, str) and parse_scalar(value) == value:
        return value
    return dumps(value)


def _raw(data, key: str) -> str | None:
    value = data.get(key)
    return value if isinstance(value, str) else None


def parse_operand(operator: str, data, prefix: str = "") -> Any:
    """The value of a trait-like comparison, typed for its operator."""
    text = _raw(data, f"{prefix}value")
    low, high = _raw(data, f"{prefix}value_low"), _raw(data, f"{prefix}value_high")
    if text is None and low is not None:  # the editor showed two bounds before this change
        text = low if operator != "between" else None
    if operator in ("is_set", "not_set"):
        return None
    if operator == "between":
        if low is None and high is None:
            parts = [part for part in (text or "").split(",") if part.strip()]
            low, high = (parts + parts)[:2] if parts else ("", "")
        return [parse_number(low), parse_number(high)]
    text = text or ""
    if operator == "in":
        return [parse_scalar(part) for part in text.split(",") if part.strip()] or None
    if operator in ("gt", "gte", "lt", "lte", "within_last_days"):
        return parse_number(text)
    if operator in ("before", "after", "contains", "starts_with"):
        return text.strip() or None
    return parse_scalar(text)


def _filters(data, prefix: str) -> list[dict]:
    out, index = [], 0
    while f"{prefix}-{index}-property" in data:
        key = f"{prefix}-{index}-"
        operator = data.get(f"{key}operator", "equals")
        removed = data.get("filter_remove") == f"{prefix}-{index}"
        if not removed:
            out.append(
                {
                    "property": data.get(f"{key}property", "").strip(),
                    "operator": operator,
                    "value": parse_operand(operator, data, key),
                }
            )
        index += 1
    if data.get("filter_add") == prefix:
        out.append({"property": data.get("filter_default", ""), "operator": "is_set"})
    return out


def _window(data) -> dict:
    kind = data.get("window_kind", "ever")
    if kind == "last_days":
        return {"kind": kind, "days": parse_number(data.get("window_days", "30"))}
    if kind == "between_days_ago":
        return {
            "kind": kind,
            "from": parse_number(data.get("window_from", str(WINDOW_DEFAULTS["from"]))),
            "to": parse_number(data.get("window_to", str(WINDOW_DEFAULTS["to"]))),
        }
    return {"kind": kind}


def _bool(data, key: str, default: bool = True) -> bool:
    value = data.get(key)
    return default if value is None else value in ("1", "true", "on", "yes")


def node_fields(kind: str, data) -> dict[str, Any]:
    """The definition fields a node editor of `kind` posted (None: remove that field)."""
    if kind in ("trait", "computed"):
        operator = data.get("operator", "equals")
        name_key = "trait" if kind == "trait" else "name"
        return {
            name_key: data.get(name_key, "").strip(),
            "operator": operator,
            "value": parse_operand(operator, data),
        }
    if kind == "event":
        performed = _bool(data, "performed")
        fields: dict[str, Any] = {
            "event": data.get("event", "").strip(),
            "performed": performed,
            "window": _window(data),
            "where": _filters(data, "where"),
            "count": None,
            "aggregate": None,
        }
        count_op = data.get("count_op", "")
        if performed and count_op in COMPARISONS:
            fields["count"] = {
                "operator": count_op,
                "value": parse_number(data.get("count_value", "1")),
            }
        function = data.get("agg_function", "")
        if performed and function in AGGREGATES:
            fields["aggregate"] = {
                "function": function,
                # A total just switched on starts on the event's first known property.
                "property": data.get("agg_property", data.get("agg_default", "")).strip(),
                "operator": data.get("agg_op", "gte"),
                "value": parse_number(data.get("agg_value", "0")),
            }
        return fields
    if kind == "sequence":
        return {
            "first": {
                "event": data.get("first_event", "").strip(),
                "where": _filters(data, "first-where"),
            },
            "then": {
                "event": data.get("then_event", "").strip(),
                "where": _filters(data, "then-where"),
            },
            "mode": data.get("mode", "then"),
            "within_days": parse_number(data.get("within_days")),
            "window": _window(data),
        }
    if kind == "seen":
        operator = data.get("operator", "within_last_days")
        value = data.get("value", "")
        if operator in ("within_last_days", "not_within_last_days"):
            return {"which": data.get("which"), "operator": operator, "value": parse_number(value)}
        return {"which": data.get("which"), "operator": operator, "value": value.strip() or None}
    if kind == "consent":
        return {"purpose": data.get("purpose", "").strip(), "status": data.get("status")}
    if kind == "segment":
        return {"segment": parse_number(data.get("segment")), "member": _bool(data, "member")}
    raise DefinitionError(None, f"unknown node type {kind!r}.")


def parse_definition(text: str) -> dict:
    """A draft definition from its JSON text, validated; DefinitionError if it is not usable."""
    try:
        return validate(loads(text))
    except ValueError as error:
        raise DefinitionError(None, f"The definition is not valid JSON: {error}") from error


class ExplainForm(forms.Form):
    """A profile id to explain a definition for ("why is this person in or out")."""

    explain = forms.CharField(required=False, max_length=20, label="Profile id")

    def clean_explain(self) -> int | None:
        text = self.cleaned_data["explain"].strip().lstrip("#")
        if not text:
            return None
        if not text.isdigit() or len(text) > 18:
            raise ValidationError("A profile id is a number.")
        return int(text)


class BuilderStateForm(ExplainForm):
    """What every builder action carries: the draft definition, and what it is previewed with."""

    definition = forms.CharField()
    editing = forms.IntegerField(required=False)  # the saved segment this draft belongs to

    def clean_definition(self) -> dict:
        try:
            return parse_definition(self.cleaned_data["definition"])
        except DefinitionError as error:
            raise ValidationError(f"The draft definition is not usable: {error}") from error


class SegmentSaveForm(forms.Form):
    name = forms.CharField(max_length=120)
    refresh = forms.ChoiceField(
        choices=[
            (Segment.Refresh.REALTIME, "Real time"),
            (Segment.Refresh.SCHEDULED, "On a schedule only"),
        ],
        label="Refresh",
    )
    refresh_minutes = forms.IntegerField(
        min_value=5, max_value=7 * 24 * 60, initial=60, label="Time windows every (min)"
    )
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 1}))

    def __init__(self, *args, creating: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if creating:  # a new segment starts with the default interval; it can change on edit
            del self.fields["refresh_minutes"]

    definition = forms.CharField(widget=forms.HiddenInput)

    def clean_definition(self) -> dict:
        try:
            return loads(self.cleaned_data["definition"])
        except ValueError as error:
            raise ValidationError("The definition is not valid JSON.") from error


class OverlapForm(forms.Form):
    segments = forms.TypedMultipleChoiceField(coerce=int, widget=forms.CheckboxSelectMultiple)

    def __init__(self, *args, choices: list[tuple[int, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segments"].choices = choices

    def clean_segments(self) -> list[int]:
        chosen = self.cleaned_data["segments"]
        if len(chosen) < 2:
            raise ValidationError("Pick at least two segments.")
        return chosen
