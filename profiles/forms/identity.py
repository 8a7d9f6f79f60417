"""Forms of the identity-rules pages: they parse what admins type; the services validate rules."""

import re

from django import forms

from profiles.models import IdentityType, SurvivorshipRule

_LIST_SEPARATORS = re.compile(r"[,\n]")


def _split(text: str, separators: re.Pattern = _LIST_SEPARATORS) -> list[str]:
    return [item.strip() for item in separators.split(text or "") if item.strip()]


class IdentityTypeForm(forms.Form):
    """One identity type's rules; `name` only when creating (identifiers are stored under it)."""

    name = forms.SlugField(
        max_length=40, help_text="Lower-case letters, digits, - and _. Cannot be changed later."
    )
    normaliser = forms.ChoiceField(choices=IdentityType.Normaliser.choices)
    pattern = forms.CharField(
        max_length=200,
        required=False,
        help_text="For the regular-expression normaliser: the whole value must match.",
    )
    default_region = forms.CharField(
        max_length=3, help_text="For phone numbers written without +: GB, US, FR…"
    )
    trait_keys = forms.CharField(
        required=False,
        help_text="Trait names that carry this identifier, separated by commas.",
    )
    priority = forms.IntegerField(
        min_value=0, max_value=1000, help_text="Higher wins when a limit forces a choice."
    )
    max_per_profile = forms.IntegerField(
        min_value=0, required=False, help_text="Empty: no limit. 1: one per person (user id)."
    )
    blocked_values = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text="One per line; never resolved on, counted as junk. Case does not matter.",
    )
    verified = forms.BooleanField(
        required=False,
        help_text="Two profiles with different verified values of a one-per-profile type go to "
        "review instead of merging.",
    )
    enabled = forms.BooleanField(required=False, help_text="Disabled types are ignored.")

    def __init__(self, *args, creating: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not creating:
            del self.fields["name"]

    @classmethod
    def initial_for(cls, identity_type: IdentityType) -> dict:
        return {
            "normaliser": identity_type.normaliser,
            "pattern": identity_type.pattern,
            "default_region": identity_type.default_region,
            "trait_keys": ", ".join(identity_type.trait_keys or ()),
            "priority": identity_type.priority,
            "max_per_profile": identity_type.max_per_profile,
            "blocked_values": "\n".join(identity_type.blocked_values or ()),
            "verified": identity_type.verified,
            "enabled": identity_type.enabled,
        }

    def rule_fields(self) -> dict:
        """The cleaned values as the identity-type services take them."""
        data = dict(self.cleaned_data)
        data.pop("name", None)
        data["trait_keys"] = _split(data["trait_keys"])
        data["blocked_values"] = _split(data["blocked_values"], re.compile(r"\n"))
        return data


class SurvivorshipRuleForm(forms.Form):
    """A trait's rule; sources are ranked with one number field per source (1 = most trusted)."""

    trait = forms.CharField(max_length=100, help_text="A trait name, or * for the default rule.")
    rule = forms.ChoiceField(choices=SurvivorshipRule.Rule.choices)
    keep_non_empty = forms.BooleanField(
        required=False, label="Never overwrite a value with an empty one"
    )

    def __init__(self, *args, sources: dict[int, str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.sources = sources
        for source_id, name in sources.items():
            self.fields[f"rank_{source_id}"] = forms.IntegerField(
                min_value=1, required=False, label=name
            )

    @classmethod
    def initial_for(cls, rule: SurvivorshipRule | None) -> dict:
        if rule is None:
            return {"rule": SurvivorshipRule.Rule.MOST_RECENT, "keep_non_empty": True}
        initial = {"trait": rule.trait, "rule": rule.rule, "keep_non_empty": rule.keep_non_empty}
        for position, source_id in enumerate(rule.source_priority, start=1):
            initial[f"rank_{source_id}"] = position
        return initial

    def rank_fields(self):
        return [self[f"rank_{source_id}"] for source_id in self.sources]

    def source_priority(self) -> list[int]:
        """Ranked sources, most trusted first (equal ranks keep the page's order)."""
        ranked = [
            (self.cleaned_data[f"rank_{source_id}"], position, source_id)
            for position, source_id in enumerate(self.sources)
            if self.cleaned_data.get(f"rank_{source_id}") is not None
        ]
        return [source_id for _, _, source_id in sorted(ranked)]


class MergeSettingsForm(forms.Form):
    consent_conflict_review = forms.BooleanField(
        required=False,
        label="Send profiles whose consent conflicts to review instead of merging them",
    )
