"""Purposes (versioned text, per-region defaults) and retention policy edits, with their audit."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from cdpapp.models import AuditEntry
from privacy.models import Purpose, PurposeVersion, RetentionPolicy
from privacy.services.purposes import purpose_clean_defaults, purpose_create, purpose_update
from privacy.services.retention_policies import retention_policy_dry_run, retention_policy_set
from profiles.models import Event, Profile, Source

pytestmark = pytest.mark.django_db


def test_region_defaults_are_validated_and_upper_cased():
    assert purpose_clean_defaults([("eu", "opt_in"), (" us ", "opt_out"), ("*", "opt_in")]) == {
        "EU": "opt_in",
        "US": "opt_out",
        "*": "opt_in",
    }
    with pytest.raises(ValidationError) as error:
        purpose_clean_defaults(
            [("Europe", "opt_in"), ("GB", "maybe"), ("gb", "opt_in"), ("GB", "opt_in")]
        )
    assert error.value.message_dict["defaults"] == [
        "'Europe' is not a region: use *, EU or a two-letter country code.",
        "The default for GB must be opt_in or opt_out.",
        "GB is given twice.",
    ]


def test_a_purpose_starts_at_version_one_and_a_new_text_makes_a_new_version(make_user):
    admin = make_user("admin")
    purpose = purpose_create(
        slug="loyalty",
        name="Loyalty programme",
        description="Points and rewards.",
        defaults={"*": "opt_in"},
        validity_days=365,
        actor=admin,
    )
    assert (purpose.version, purpose.validity_days) == (1, 365)
    assert list(purpose.versions.values_list("version", "description")) == [
        (1, "Points and rewards.")
    ]

    purpose_update(
        purpose=purpose, name="Loyalty", description="Points and rewards.",
        defaults={"*": "opt_in"}, validity_days=365, actor=admin,
    )  # fmt: skip
    purpose.refresh_from_db()
    assert (purpose.name, purpose.version) == ("Loyalty", 1)  # same text: same version

    purpose_update(
        purpose=purpose, name="Loyalty", description="Points, rewards and birthday offers.",
        defaults=[("US", "opt_out"), ("*", "opt_in")], validity_days=None, actor=admin,
    )  # fmt: skip
    purpose.refresh_from_db()
    assert purpose.version == 2
    assert purpose.defaults == {"US": "opt_out", "*": "opt_in"}
    assert list(
        PurposeVersion.objects.filter(purpose=purpose)
        .order_by("version")
        .values_list("description", flat=True)
    ) == ["Points and rewards.", "Points, rewards and birthday offers."]

    entries = list(AuditEntry.objects.filter(object_type="purpose").order_by("id"))
    assert [e.action for e in entries] == ["purpose.created", "purpose.changed", "purpose.changed"]
    assert all(e.actor_name == admin.username for e in entries)
    last = entries[-1]
    assert (last.before["version"], last.after["version"]) == (1, 2)
    assert last.before["validity_days"] == 365 and last.after["validity_days"] is None


def test_unchanged_purpose_writes_no_audit_entry(make_user):
    purpose = Purpose.objects.get(slug="sms")
    admin = make_user("admin")
    before = AuditEntry.objects.count()
    purpose_update(
        purpose=purpose, name=purpose.name, description=purpose.description,
        defaults=purpose.defaults, validity_days=purpose.validity_days, actor=admin,
    )  # fmt: skip
    assert AuditEntry.objects.count() == before


def test_duplicate_slug_and_bad_defaults_are_refused():
    with pytest.raises(ValidationError, match="exists already"):
        purpose_create(slug="sms", name="SMS", description="x", defaults={})
    with pytest.raises(ValidationError, match="not a region"):
        purpose_create(slug="new", name="New", description="x", defaults={"Mars": "opt_in"})
    assert not Purpose.objects.filter(slug="new").exists()


@pytest.fixture
def aged_events(db):
    now = timezone.now()
    web = Source.objects.create(name="Web", kind="website")
    profile = Profile.objects.create(
        first_seen=now - timedelta(days=400), last_seen=now - timedelta(days=200)
    )
    for n, age in enumerate([5, 40, 90, 400]):
        Event.objects.create(
            source=web, message_id=f"m{n}", type="track", name="E", profile=profile,
            timestamp=now - timedelta(days=age), received_at=now - timedelta(days=age),
        )  # fmt: skip
    return web


def test_dry_run_of_unsaved_settings_counts_without_changing_anything(aged_events):
    web = aged_events
    assert retention_policy_dry_run(source=web, days=30) == 3
    assert retention_policy_dry_run(source=web, days=100) == 1
    assert retention_policy_dry_run(source=None, days=100) == 1
    assert retention_policy_dry_run(source=None, days=300) == 0
    assert retention_policy_dry_run(source=web, days=None) == 0
    assert not RetentionPolicy.objects.exists()
    assert Event.objects.count() == 4


def test_setting_policies_is_audited_with_before_and_after(aged_events, make_user):
    admin = make_user("admin")
    web = aged_events
    policy = retention_policy_set(source=web, days=60, enabled=False, actor=admin)
    assert (policy.raw_event_days, policy.enabled) == (60, False)
    retention_policy_set(source=web, days=60, enabled=True, actor=admin)
    retention_policy_set(source=web, days=60, enabled=True, actor=admin)  # no change: no entry
    retention_policy_set(source=None, days=365, enabled=True, actor=admin)
    entries = list(AuditEntry.objects.filter(object_type="retention_policy").order_by("id"))
    assert [(e.action, e.object_id) for e in entries] == [
        ("retention_policy.created", f"source:{web.pk}"),
        ("retention_policy.changed", f"source:{web.pk}"),
        ("retention_policy.created", "profiles"),
    ]
    assert entries[1].before == {
        "raw_event_days": 60,
        "inactive_profile_days": None,
        "enabled": False,
    }
    assert entries[1].after["enabled"] is True
    assert RetentionPolicy.objects.get(source=None).inactive_profile_days == 365


def test_a_policy_cannot_be_enabled_without_days(aged_events):
    with pytest.raises(ValidationError, match="Give a number of days"):
        retention_policy_set(source=aged_events, days=None, enabled=True)
    with pytest.raises(ValidationError, match="at least one day"):
        retention_policy_set(source=aged_events, days=0, enabled=False)
