"""Forms of the privacy admin pages (purposes, consent, requests, retention, audit filters)."""

from datetime import datetime, time, timedelta

from django import forms
from django.utils import timezone

from privacy.models import DataSubjectRequest, Purpose
from privacy.services.consent import LEGAL_BASES, STATUSES
from privacy.services.purposes import DEFAULT_CHOICES
from privacy.services.requests import SUBJECT_TYPES

BLANK_DEFAULT_ROWS = 3


class PurposeForm(forms.Form):
    """Name, text and validity of a purpose; per-region defaults come as parallel lists."""

    slug = forms.SlugField(
        max_length=50, help_text="Used by the APIs and in collected events; cannot change later."
    )
    name = forms.CharField(max_length=100)
    description = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="The text people see. Changing it makes a new version; earlier decisions "
        "keep the version they were shown.",
    )
    validity_days = forms.IntegerField(
        min_value=1,
        required=False,
        help_text="A grant expires after this many days. Empty: it never expires.",
    )

    def __init__(self, *args, creating: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not creating:
            del self.fields["slug"]

    default_choices = [(choice, Purpose.Default(choice).label) for choice in DEFAULT_CHOICES]

    def default_rows(self) -> list[tuple[str, str]]:
        """The region rows to show: the submitted or saved ones, then a few blank ones."""
        if self.is_bound:
            rows = list(zip(self.data.getlist("region"), self.data.getlist("choice"), strict=False))
        else:
            rows = list((self.initial.get("defaults") or {}).items())
        filled = [(region, choice) for region, choice in rows if region.strip()]
        return filled + [("", "opt_in")] * BLANK_DEFAULT_ROWS

    def defaults(self) -> list[tuple[str, str]]:
        """The submitted (region, choice) rows as given; the service validates them."""
        pairs = zip(self.data.getlist("region"), self.data.getlist("choice"), strict=False)
        return [(region, choice) for region, choice in pairs if region.strip()]


class ConsentForm(forms.Form):
    purpose = forms.ChoiceField()
    status = forms.ChoiceField(choices=[(s, s.capitalize()) for s in STATUSES])
    legal_basis = forms.ChoiceField(
        choices=[(b, b.replace("_", " ").capitalize()) for b in LEGAL_BASES]
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Empty: the purpose's validity applies, if it has one.",
    )
    proof = forms.CharField(
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="How the person gave this decision: signed form number, call reference...",
    )

    def __init__(self, *args, purposes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["purpose"].choices = [(p.slug, p.name) for p in purposes]

    def clean_expires_at(self):
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value


class RequestForm(forms.Form):
    kind = forms.ChoiceField(choices=DataSubjectRequest.Kind.choices)
    regulation = forms.ChoiceField(choices=DataSubjectRequest.Regulation.choices)
    subject_type = forms.ChoiceField(
        label="Find the person by", choices=[(t, t.replace("_", " ")) for t in SUBJECT_TYPES]
    )
    subject_value = forms.CharField(label="Identifier", max_length=255)


class RequestRejectForm(forms.Form):
    reason = forms.CharField(
        label="Why is it rejected?",
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Kept with the request, for the reply to the person (identity not verified, "
        "a duplicate of another request...).",
    )


class ConsentConflictResolveForm(forms.Form):
    resolution = forms.CharField(
        label="What was done",
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="E.g. asked the person again; the merge was undone; the kept decision is right.",
    )


class RetentionForm(forms.Form):
    days = forms.IntegerField(min_value=1, required=False)
    enabled = forms.BooleanField(required=False)
    confirmed = forms.CharField(required=False, widget=forms.HiddenInput)


class AuditFilterForm(forms.Form):
    """Filters of the audit log; the page, the CSV export and the API share them."""

    action = forms.CharField(
        required=False, max_length=60, help_text="An action, or its prefix (consent., dsr.)"
    )
    actor = forms.CharField(required=False, max_length=150)
    object_type = forms.CharField(required=False, max_length=60, label="Object type")
    object_id = forms.CharField(required=False, max_length=64, label="Object id")
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )

    def clean(self):
        data = super().clean()
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data

    def filters(self) -> dict:
        """The selector's keyword arguments: dates become the span of whole local days."""
        data = self.cleaned_data
        zone = timezone.get_current_timezone()
        since = data.get("since")
        until = data.get("until")
        return {
            "action": data.get("action", "").strip(),
            "actor": data.get("actor", "").strip(),
            "object_type": data.get("object_type", "").strip(),
            "object_id": data.get("object_id", "").strip(),
            "since": datetime.combine(since, time.min, zone) if since else None,
            "before": datetime.combine(until + timedelta(days=1), time.min, zone)
            if until
            else None,
        }
