"""Identity-rule services (validation, change history) and the simulation on real data."""

import pytest
from django.core.exceptions import ValidationError

from cdpapp.models import AuditEntry
from profiles.models import Event, Identity, IdentityType, Profile, RuleChange, SurvivorshipRule
from profiles.selectors.identity_rules import identity_type_simulate, rule_change_list
from profiles.services.identity_rules import (
    identity_type_create,
    identity_type_update,
    survivorship_rule_delete,
    survivorship_rule_set,
)
from profiles.services.processing import events_process_pending, identity_rules
from profiles.services.sources import source_create
from profiles.tests.test_processing import at
from tests.collect import send

pytestmark = pytest.mark.django_db


def email_type() -> IdentityType:
    return IdentityType.objects.get(name="email")


def errors_of(excinfo) -> dict[str, list[str]]:
    return excinfo.value.message_dict


def test_update_records_before_and_after(make_user):
    admin = make_user("admin")
    updated = identity_type_update(
        identity_type=email_type(),
        actor=admin,
        max_per_profile=2,
        blocked_values=["  junk@x.com ", "JUNK@x.com", "", "null"],
    )
    assert updated.max_per_profile == 2
    assert updated.blocked_values == ["junk@x.com", "null"]
    change = RuleChange.objects.get()
    assert (change.kind, change.object_name, change.actor) == ("identity_type", "email", admin)
    assert change.before["max_per_profile"] is None
    assert change.after["max_per_profile"] == 2
    assert change.after["blocked_values"] == ["junk@x.com", "null"]
    assert identity_rules()["email"].max_per_profile == 2
    audit = AuditEntry.objects.get(action="identity_type.changed")
    assert (audit.actor, audit.object_id) == (admin, "email")
    assert audit.after["max_per_profile"] == 2
    assert audit.after["blocked_values_count"] == 2
    assert "blocked_values" not in audit.after


def test_an_update_that_changes_nothing_records_nothing():
    current = email_type()
    identity_type_update(identity_type=current, priority=current.priority)
    assert not RuleChange.objects.exists()


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"pattern": "([a-z"}, "pattern", "not a valid regular expression"),
        ({"normaliser": "regex", "pattern": ""}, "pattern", "needs a pattern"),
        ({"default_region": "XX"}, "default_region", "XX is not a region"),
        ({"default_region": "GBR"}, "default_region", "GBR is not a region"),
        ({"max_per_profile": 0}, "max_per_profile", "would drop every identifier"),
        ({"normaliser": "soundex"}, "normaliser", "not a valid choice"),
        ({"blocked_values": "null"}, "blocked_values", "list of values"),
        ({"blocked_values": [{"a": 1}]}, "blocked_values", "is not a text value"),
        ({"trait_keys": ["x" * 101]}, "trait_keys", "longer than 100"),
    ],
)
def test_validation_errors_name_the_field_and_the_reason(changes, field, message):
    with pytest.raises(ValidationError) as excinfo:
        identity_type_update(identity_type=email_type(), **changes)
    assert message in errors_of(excinfo)[field][0]
    assert not RuleChange.objects.exists()
    assert email_type().normaliser == "email"


def test_types_cannot_be_renamed():
    with pytest.raises(ValidationError) as excinfo:
        identity_type_update(identity_type=email_type(), name="mail")
    assert "cannot be renamed" in errors_of(excinfo)["name"][0]


def test_create_validates_and_records():
    created = identity_type_create(
        name="member_no",
        normaliser="regex",
        pattern=r"M\d{6}",
        trait_keys=[" memberNo ", "memberNo"],
        priority=75,
        max_per_profile=1,
    )
    assert created.trait_keys == ["memberNo"]
    change = RuleChange.objects.get()
    assert change.before is None
    assert change.after["pattern"] == r"M\d{6}"
    with pytest.raises(ValidationError) as excinfo:
        identity_type_create(name="member_no")
    assert "already exists" in errors_of(excinfo)["name"][0]
    with pytest.raises(ValidationError) as excinfo:
        identity_type_create(name="has space")
    assert "name" in errors_of(excinfo)


def test_survivorship_rules_are_set_changed_and_removed(make_user):
    pos, _ = source_create(name="POS", kind="pos")
    crm, _ = source_create(name="CRM", kind="crm")
    rule = survivorship_rule_set(
        trait="firstName", rule="source_priority", source_priority=[crm.pk, pos.pk]
    )
    assert rule.source_priority == [crm.pk, pos.pk]
    survivorship_rule_set(trait="firstName", rule="most_frequent", source_priority=[crm.pk])
    rule.refresh_from_db()
    assert (rule.rule, rule.source_priority) == ("most_frequent", [])
    survivorship_rule_delete(rule=rule, actor=make_user("admin"))
    assert AuditEntry.objects.filter(action="survivorship_rule.removed").get().actor_name == (
        "admin-user"
    )
    assert not SurvivorshipRule.objects.filter(trait="firstName").exists()
    history = rule_change_list()
    assert [(c.before is None, c.after is None) for c in history] == [
        (False, True),
        (False, False),
        (True, False),
    ]
    assert {"field": "rule", "before": "source_priority", "after": "most_frequent"} in (
        history[1].changes
    )
    assert {"field": "source priority", "before": "CRM > POS", "after": "—"} in history[1].changes


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({"trait": " ", "rule": "most_recent"}, "trait", "Name the trait"),
        ({"trait": "x", "rule": "loudest"}, "rule", "Unknown rule 'loudest'"),
        ({"trait": "x", "rule": "source_priority"}, "source_priority", "at least one source"),
        (
            {"trait": "x", "rule": "source_priority", "source_priority": [987654]},
            "source_priority",
            "No source with id 987654",
        ),
        (
            {"trait": "x", "rule": "source_priority", "source_priority": ["pos"]},
            "source_priority",
            "'pos' is not a source id",
        ),
    ],
)
def test_survivorship_validation_is_specific(arguments, field, message):
    with pytest.raises(ValidationError) as excinfo:
        survivorship_rule_set(**arguments)
    assert message in errors_of(excinfo)[field][0]


def test_the_default_rule_cannot_be_removed():
    with pytest.raises(ValidationError, match="cannot be removed"):
        survivorship_rule_delete(rule=SurvivorshipRule.objects.get(trait="*"))


def test_new_events_use_changed_rules_and_stored_identities_stay():
    _, key = source_create(name="Web", kind="website")
    send(key, {"type": "identify", "anonymousId": "a1", "traits": {"email": "x@a.com"}})
    events_process_pending()
    identity_type_update(identity_type=email_type(), blocked_values=["x@a.com"])
    send(key, {"type": "identify", "anonymousId": "a2", "traits": {"email": "x@a.com"}})
    events_process_pending()
    assert Identity.objects.filter(id_type="email", value="x@a.com").count() == 1
    a1 = Identity.objects.get(value="a1").profile_id
    assert Identity.objects.get(value="a2").profile_id != a1


@pytest.fixture
def two_people(db):
    """With one email per profile, a second email on a1 is dropped rather than merge two people."""
    identity_type_update(identity_type=email_type(), max_per_profile=1)
    _, key = source_create(name="Web", kind="website")
    send(
        key,
        {
            "type": "identify",
            "anonymousId": "a1",
            "traits": {"email": "a@x.com"},
            "timestamp": at(0),
        },
        {
            "type": "identify",
            "anonymousId": "a2",
            "traits": {"email": "b@x.com"},
            "timestamp": at(1),
        },
        {
            "type": "identify",
            "anonymousId": "a1",
            "traits": {"email": "b@x.com"},
            "timestamp": at(2),
        },
        {
            "type": "identify",
            "anonymousId": "a3",
            "traits": {"email": "c@x.com"},
            "timestamp": at(3),
        },
    )
    events_process_pending()
    return [Identity.objects.get(value=f"a{n}").profile_id for n in (1, 2, 3)]


def test_simulation_of_a_higher_email_limit_merges_the_two_profiles(two_people):
    p1, p2, _ = two_people
    assert p1 != p2
    proposed = email_type()
    proposed.max_per_profile = 2
    impact = identity_type_simulate(proposed=proposed)
    assert (impact.profiles_merged, impact.merge_groups, impact.profiles_split) == (2, 1, 0)
    assert impact.samples[0].profiles == (p1, p2)
    assert email_type().max_per_profile == 1  # simulating saves nothing
    assert RuleChange.objects.count() == 1


def test_simulation_of_blocking_the_linking_value_splits(two_people):
    identity_type_update(identity_type=email_type(), max_per_profile=None)
    _, key = source_create(name="App", kind="mobile_app")
    send(key, {"type": "identify", "anonymousId": "a3", "traits": {"email": "a@x.com"}})
    events_process_pending()
    p1 = Identity.objects.get(value="a1").profile_id
    assert Identity.objects.get(value="a3").profile_id == p1
    proposed = email_type()
    proposed.blocked_values = [*proposed.blocked_values, "a@x.com"]
    impact = identity_type_simulate(proposed=proposed)
    assert impact.profiles_split == 1
    assert impact.identifiers_dropped == 1
    split = next(s for s in impact.samples if s.kind == "split")
    assert split.profiles == (p1,)
    assert sorted(len(part) for part in split.parts) == [1, 2]


def test_simulation_of_disabling_a_type(two_people):
    proposed = email_type()
    proposed.enabled = False
    impact = identity_type_simulate(proposed=proposed)
    assert impact.identifiers_dropped == 3
    assert impact.profiles_losing_identifiers == 3


def test_lowering_a_limit_below_what_a_profile_holds_keeps_its_events_on_it():
    _, key = source_create(name="Web", kind="website")
    send(
        key,
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "one@x.com"}},
        {"type": "identify", "anonymousId": "a1", "traits": {"email": "two@x.com"}},
    )
    events_process_pending()
    profile = Identity.objects.get(value="a1").profile_id
    identity_type_update(identity_type=email_type(), max_per_profile=1)
    send(key, {"type": "track", "anonymousId": "a1", "event": "Viewed"})
    events_process_pending()
    assert Event.objects.get(name="Viewed").profile_id == profile
    assert not Profile.objects.exclude(pk=profile).exists()
