"""Purposes people consent to: create and change them, keeping every text version shown."""

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from cdpapp.audit import audit_record
from privacy.models import Purpose, PurposeVersion

DEFAULT_CHOICES = ("opt_in", "opt_out")
# "*" (everywhere else), "EU" (the EEA) or an ISO 3166 two-letter country code.
_REGION = re.compile(r"^(\*|EU|[A-Z]{2})$")


Defaults = dict[str, str] | list[tuple[str, str]]


def purpose_clean_defaults(defaults: Defaults) -> dict:
    """Per-region defaults ({region: choice} or (region, choice) rows), validated."""
    cleaned, errors = {}, []
    rows = defaults.items() if isinstance(defaults, dict) else defaults
    for region, choice in rows or ():
        code = str(region).strip().upper()
        if not _REGION.match(code):
            errors.append(f"{region!r} is not a region: use *, EU or a two-letter country code.")
        elif choice not in DEFAULT_CHOICES:
            errors.append(f"The default for {code} must be opt_in or opt_out.")
        elif code in cleaned:
            errors.append(f"{code} is given twice.")
        else:
            cleaned[code] = choice
    if errors:
        raise ValidationError({"defaults": errors})
    return cleaned


def _snapshot(purpose: Purpose) -> dict:
    return {
        "name": purpose.name,
        "version": purpose.version,
        "description": purpose.description,
        "defaults": purpose.defaults,
        "validity_days": purpose.validity_days,
    }


@transaction.atomic
def purpose_create(
    *,
    slug: str,
    name: str,
    description: str,
    defaults: Defaults,
    validity_days: int | None = None,
    actor=None,
) -> Purpose:
    """Define a purpose; its description is version 1 of the text shown to people."""
    if Purpose.objects.filter(slug=slug).exists():
        raise ValidationError({"slug": [f"A purpose {slug!r} exists already."]})
    purpose = Purpose(
        slug=slug,
        name=name.strip(),
        description=description.strip(),
        defaults=purpose_clean_defaults(defaults),
        validity_days=validity_days,
        version=1,
    )
    purpose.full_clean()
    purpose.save()
    PurposeVersion.objects.create(purpose=purpose, version=1, description=purpose.description)
    audit_record(
        actor=actor, action="purpose.created", object_type="purpose", object_id=purpose.slug,
        after=_snapshot(purpose),
    )  # fmt: skip
    return purpose


@transaction.atomic
def purpose_update(
    *,
    purpose: Purpose,
    name: str,
    description: str,
    defaults: Defaults,
    validity_days: int | None = None,
    actor=None,
) -> Purpose:
    """Change a purpose; a changed description becomes a new version of its text."""
    purpose = Purpose.objects.select_for_update().get(pk=purpose.pk)
    before = _snapshot(purpose)
    purpose.name = name.strip()
    purpose.defaults = purpose_clean_defaults(defaults)
    purpose.validity_days = validity_days
    description = description.strip()
    new_text = description != purpose.description
    if new_text:
        purpose.description = description
        purpose.version += 1
    purpose.full_clean()
    if _snapshot(purpose) == before:
        return purpose
    purpose.save()
    if new_text:
        PurposeVersion.objects.create(
            purpose=purpose, version=purpose.version, description=description
        )
    audit_record(
        actor=actor, action="purpose.changed", object_type="purpose", object_id=purpose.slug,
        before=before, after=_snapshot(purpose),
    )  # fmt: skip
    return purpose
