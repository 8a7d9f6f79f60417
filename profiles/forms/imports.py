"""Forms of the CSV import pages: upload a file, then say what each column holds."""

from django import forms

from profiles.domain import csv_import
from profiles.selectors.imports import import_sources

SKIP = ""
STANDARD_TRAITS = (
    "firstName",
    "lastName",
    "name",
    "birthday",
    "gender",
    "title",
    "company",
    "createdAt",
    "address.street",
    "address.city",
    "address.postalCode",
    "address.state",
    "address.country",
)
STANDARD_PURPOSES = ("email_marketing", "sms", "advertising", "personalisation", "analytics")


class UploadForm(forms.Form):
    source = forms.ModelChoiceField(
        queryset=import_sources(),
        empty_label="Choose a source…",
        help_text="The events are stored under this source, as if it had sent them.",
    )
    file = forms.FileField(
        label="CSV file",
        help_text=(
            f"Up to {csv_import.MAX_FILE_BYTES // (1024 * 1024)} MB; comma, semicolon or tab "
            "separated; UTF-8 or Excel's own encodings; the first row names the columns."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,text/csv"}),
    )

    def clean_file(self):
        uploaded = self.cleaned_data["file"]
        try:
            csv_import.check_file_size(uploaded.size or 0)
        except csv_import.CsvFileError as exc:
            raise forms.ValidationError(str(exc)) from exc
        return uploaded


def target_choices(column: str, suggested: str) -> list[tuple[str, object]]:
    """The targets offered for one column, grouped, with its suggestion among them."""
    key = csv_import.suggest_target(column, events=False)
    trait = key.removeprefix("trait:") if key.startswith("trait:") else None
    traits = list(STANDARD_TRAITS)
    if trait and trait not in traits:
        traits.insert(0, trait)
    purposes = list(STANDARD_PURPOSES)
    if suggested.startswith("consent:") and suggested[8:] not in purposes:
        purposes.insert(0, suggested[8:])
    groups: list[tuple[str, object]] = [
        (SKIP, "— skip this column —"),
        (
            "Identifier (who the row is about)",
            [(f"identifier:{kind}", f"identifier:{kind}") for kind in csv_import.KNOWN_IDENTIFIERS],
        ),
        ("Trait", [(f"trait:{name}", f"trait:{name}") for name in traits]),
        ("Consent", [(f"consent:{name}", f"consent:{name}") for name in purposes]),
        (
            "Event",
            [
                ("event:name", "event:name"),
                ("event:timestamp", "event:timestamp"),
                (f"event:property:{column}", f"event:property:{column}"),
            ],
        ),
    ]
    offered = {value for _, options in groups[1:] for value, _ in options}  # type: ignore[union-attr]
    if suggested and suggested not in offered:
        groups.insert(1, ("Suggested", [(suggested, suggested)]))
    return groups


class MappingForm(forms.Form):
    """One select per column (and a free text box for any other target)."""

    def __init__(self, *args, header: list[str], samples: dict[str, list[str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.header = header
        suggested = csv_import.suggest_mapping(header)
        self.rows = []
        for index, column in enumerate(header):
            if not column:
                continue
            name = f"col-{index}"
            self.fields[name] = forms.ChoiceField(
                label=column,
                required=False,
                choices=target_choices(column, suggested.get(column, "")),
                initial=suggested.get(column, SKIP),
            )
            self.fields[f"custom-{index}"] = forms.CharField(
                label=f"Other target for {column}",
                required=False,
                max_length=300,
                widget=forms.TextInput(attrs={"placeholder": "e.g. trait:loyaltyTier"}),
            )
            self.rows.append((column, samples.get(column, []), self[name], self[f"custom-{index}"]))

    def mapping(self) -> dict[str, str]:
        """Column → target text, from the select or, when filled, the free text box."""
        data = self.cleaned_data if self.is_bound else {}
        mapping = {}
        for index, column in enumerate(self.header):
            if not column:
                continue
            custom = (data.get(f"custom-{index}") or "").strip()
            mapping[column] = custom or data.get(f"col-{index}") or SKIP
        return mapping
