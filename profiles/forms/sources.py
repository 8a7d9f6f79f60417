"""Forms of the sources pages and the event debugger."""

import orjson
from django import forms
from django.conf import settings

from profiles.domain.messages import MESSAGE_TYPES
from profiles.domain.source_settings import limit_errors, parse_plan
from profiles.domain.tracking_plan import PlanError
from profiles.models import Source
from profiles.services.sources import DEFAULT_GRACE

MAX_GRACE_HOURS = 24 * 30


class SourceCreateForm(forms.ModelForm):
    class Meta:
        model = Source
        fields = ["name", "kind"]
        help_texts = {"name": "Unique, e.g. “Web shop” or “POS export”."}


class SourceSettingsForm(forms.Form):
    enabled = forms.BooleanField(
        required=False, help_text="A disabled source answers 401 to every collection call."
    )
    max_message_bytes = forms.IntegerField(label="Max message size (bytes)", min_value=0)
    max_batch_bytes = forms.IntegerField(label="Max request size (bytes)", min_value=0)
    rate_limit_per_second = forms.IntegerField(label="Rate limit (requests/second)", min_value=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cap = settings.COLLECT_MAX_BODY_BYTES
        self.fields["max_batch_bytes"].help_text = f"At most {cap} bytes ({cap // 1024} KB)."

    def clean(self):
        data = super().clean()
        if all(
            isinstance(data.get(name), int)
            for name in ("max_message_bytes", "max_batch_bytes", "rate_limit_per_second")
        ):
            for field, message in limit_errors(
                max_message_bytes=data["max_message_bytes"],
                max_batch_bytes=data["max_batch_bytes"],
                rate_limit_per_second=data["rate_limit_per_second"],
                hard_cap=settings.COLLECT_MAX_BODY_BYTES,
            ).items():
                self.add_error(field, message)
        return data


class TrackingPlanForm(forms.Form):
    plan = forms.CharField(
        label="Tracking plan (JSON)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 10, "class": "json-editor", "spellcheck": "false"}),
        help_text='{"Order Completed": {"order_id": "string", "revenue": "number"}}; '
        "types: string, number, integer, boolean, object, array. Empty: no plan.",
    )
    mode = forms.ChoiceField(label="Violations", choices=Source.PlanMode.choices)

    def clean_plan(self):
        try:
            return parse_plan(self.cleaned_data["plan"])
        except PlanError as exc:
            raise forms.ValidationError(str(exc)) from None


class RotateKeyForm(forms.Form):
    grace_hours = forms.IntegerField(
        label="Old keys keep working for (hours)",
        min_value=0,
        max_value=MAX_GRACE_HOURS,
        initial=int(DEFAULT_GRACE.total_seconds() // 3600),
    )


class ReplayForm(forms.Form):
    payload = forms.CharField(
        label="Message (JSON)",
        widget=forms.Textarea(attrs={"rows": 12, "class": "json-editor", "spellcheck": "false"}),
    )

    def clean_payload(self):
        try:
            return orjson.loads(self.cleaned_data["payload"])
        except orjson.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
            ) from None


class DebuggerFilterForm(forms.Form):
    type = forms.ChoiceField(
        required=False,
        choices=[("", "Any type"), *((name, name) for name in sorted(MESSAGE_TYPES))],
    )
    event = forms.CharField(required=False, label="Event or page name", max_length=255)
    user = forms.CharField(required=False, label="userId or anonymousId", max_length=255)

    def filters(self) -> dict[str, str | None]:
        """The selector arguments for the valid filters (none when the form is invalid)."""
        data = self.cleaned_data if self.is_valid() else {}
        return {
            "message_type": data.get("type") or None,
            "name": (data.get("event") or "").strip() or None,
            "identity": (data.get("user") or "").strip() or None,
        }
