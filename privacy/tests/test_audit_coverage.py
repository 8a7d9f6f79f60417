"""Every sensitive change lands in the audit log with who, what, before and after, made through
the interfaces admins use (pages and API), and no audit entry holds a person's raw identifiers."""

import orjson
import pytest
from django.urls import reverse
from django.utils import timezone

from cdpapp.models import AuditEntry
from privacy.services.requests import request_create
from profiles.models import IdentityType, MergeEntry, Profile
from profiles.services.identity_rules import identity_type_update, survivorship_rule_set
from profiles.services.merges import profile_merge
from profiles.services.sources import source_create
from tests.collect import send_and_process

pytestmark = pytest.mark.django_db
PII = {
    "email": "ann.example@example.org",
    "phone": "+447700900456",
    "phone_as_typed": "07700 900456",
    "user": "u-ann-31",
    "other_user": "u-ann-work",
    "crm": "CRM-ANN-4",
    "first_name": "Annabel",
    "last_name": "Quigley",
}


@pytest.fixture
def two_profiles_of_ann(db):
    _, key = source_create(name="Web", kind="website")
    now = timezone.now().isoformat()
    send_and_process(
        key,
        {
            "type": "identify",
            "userId": PII["user"],
            "timestamp": now,
            "traits": {
                "email": PII["email"],
                "phone": PII["phone_as_typed"],
                "firstName": PII["first_name"],
                "lastName": PII["last_name"],
            },
        },
        {
            "type": "identify",
            "userId": PII["other_user"],
            "timestamp": now,
            "traits": {"crm_id": PII["crm"], "firstName": PII["first_name"]},
        },
    )
    return (
        Profile.objects.get(identities__value=PII["user"]),
        Profile.objects.get(identities__value=PII["other_user"]),
    )


def entry(action: str) -> AuditEntry:
    return AuditEntry.objects.filter(action=action).latest("id")


def all_audit_text() -> str:
    rows = AuditEntry.objects.values_list(
        "actor_name", "action", "object_type", "object_id", "before", "after"
    )
    return orjson.dumps(list(rows)).decode().lower()


def test_each_sensitive_change_is_logged_with_who_what_before_after(
    client, make_user, api_client_for, two_profiles_of_ann
):
    ann, ann_at_work = two_profiles_of_ann
    admin = make_user("admin", username="alice-admin")
    client.force_login(admin)

    # User creation and role change, through the users page.
    client.post(
        reverse("users"),
        {
            "username": "dana",
            "role": "analyst",
            "password": "a-long-password-1",
            "email": "dana@corp.example",
        },
    )
    created = entry("user.created")
    assert (created.actor_name, created.object_type, created.after) == (
        "alice-admin",
        "user",
        {"username": "dana", "role": "analyst"},
    )
    client.post(reverse("user-role", args=[created.object_id]), {"role": "marketer"})
    role = entry("user.role_changed")
    assert (role.actor_name, role.object_id) == ("alice-admin", created.object_id)
    assert (role.before, role.after) == ({"role": "analyst"}, {"role": "marketer"})

    # Consent, through the admin page and the consent API.
    client.post(
        reverse("privacy:profile-consent", args=[ann.pk]),
        {"purpose": "sms", "status": "granted", "legal_basis": "consent", "proof": "call #12"},
    )
    consent = entry("consent.changed")
    assert (consent.actor_name, consent.object_type, consent.object_id) == (
        "alice-admin",
        "profile",
        str(ann.pk),
    )
    assert consent.before == {"sms": None}
    assert consent.after["sms"]["granted"] is True and consent.after["sms"]["status"] == "granted"
    api = api_client_for("admin")
    api.post(
        f"/api/profiles/{ann.pk}/consent", {"purpose": "sms", "status": "withdrawn"}, format="json"
    )
    withdrawn = entry("consent.changed")
    assert withdrawn.actor_name == "api-admin"
    assert withdrawn.before["sms"]["status"] == "granted"
    assert withdrawn.after["sms"]["status"] == "withdrawn"

    # A manual merge and its undo (the undo through the profile page).
    merge = profile_merge(survivor=ann, absorbed=ann_at_work, reason="manual", actor=admin)
    merged = entry("profile.merged")
    assert (merged.actor_name, merged.object_id) == ("alice-admin", str(merge.survivor_id))
    assert merged.after["absorbed"] == merge.absorbed_id and merged.after["reason"] == "manual"
    client.post(reverse("profiles:profile-merge-undo", args=[merge.pk]))
    unmerged = entry("profile.unmerged")
    assert unmerged.actor_name == "alice-admin"
    assert unmerged.before == {"absorbed": merge.absorbed_id, "ledger": merge.pk}
    assert unmerged.after == {"restored": merge.absorbed_id}
    assert MergeEntry.objects.filter(kind="unmerge").count() == 1

    # Identity-rule changes (a blocked value typed in by an admin is counted, not copied).
    email_type = IdentityType.objects.get(name="email")
    blocked = [*email_type.blocked_values, PII["email"]]
    identity_type_update(identity_type=email_type, actor=admin, blocked_values=blocked)
    rule = entry("identity_type.changed")
    assert (rule.actor_name, rule.object_id) == ("alice-admin", "email")
    assert rule.before["blocked_values_count"] == len(blocked) - 1
    assert rule.after["blocked_values_count"] == len(blocked)
    survivorship_rule_set(trait="firstName", rule="most_recent", actor=admin)
    assert entry("survivorship_rule.created").after["rule"] == "most_recent"

    # Data-subject requests, through the requests pages: opened, completed.
    client.post(
        reverse("privacy:requests"),
        {
            "kind": "access",
            "regulation": "gdpr",
            "subject_type": "phone",
            "subject_value": PII["phone_as_typed"],
        },
    )
    opened = entry("dsr.access.opened")
    assert opened.actor_name == "alice-admin" and opened.after == {"profile": ann.pk}
    client.post(reverse("privacy:request-complete", args=[opened.object_id]))
    assert entry("dsr.access.done").object_id == opened.object_id
    erasure = request_create(
        kind="erasure", subject_type="email", subject_value=PII["email"], actor=admin
    )
    client.post(reverse("privacy:request-complete", args=[erasure.pk]), {"confirm": "erase"})
    erased = entry("dsr.erasure.done")
    assert erased.actor_name == "alice-admin" and erased.object_id == str(erasure.pk)
    assert erased.after["deleted"]["profiles"] >= 1 and erased.after["deleted"]["identifiers"] >= 3

    # Retention: a policy change and a run.
    client.post(reverse("privacy:retention-policy", args=["profiles"]), {"days": "400"})
    assert entry("retention_policy.created").after["inactive_profile_days"] == 400
    client.post(reverse("privacy:retention-run"))
    run = entry("retention.run")
    assert run.actor_name == "alice-admin" and run.after == {"events": {}, "profiles": 0}

    # None of it wrote the person's email, phone, names or ids into the log.
    text = all_audit_text()
    for value in PII.values():
        assert value.lower() not in text, value
    assert "dana@corp.example" not in text  # a staff email is not logged either


def test_the_audit_log_refuses_changes():
    from django.db import DatabaseError, transaction

    first = AuditEntry.objects.create(actor_name="x", action="test", object_type="t")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=first.pk).update(action="changed")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.filter(pk=first.pk).delete()
    assert AuditEntry.objects.get(pk=first.pk).action == "test"
