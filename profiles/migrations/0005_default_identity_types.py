from django.db import migrations

JUNK = ["null", "undefined", "none", "nil", "anonymous", "unknown", "0", "-1", "n/a", "na", "test"]

TYPES = [
    # name, normaliser, trait keys, priority, max per profile, verified, extra blocked values
    ("user_id", "trim", [], 100, 1, True, []),
    ("crm_id", "trim", ["crm_id", "crmId"], 90, 1, True, []),
    (
        "email",
        "email",
        ["email"],
        85,
        None,
        False,
        ["test@example.com", "test@test.com", "noreply@example.com", "null@null.com", "a@a.com"],
    ),
    ("loyalty_id", "trim", ["loyalty_id", "loyaltyId"], 80, 1, False, []),
    (
        "phone",
        "phone",
        ["phone", "phoneNumber", "phone_number", "mobile"],
        70,
        None,
        False,
        ["+440000000000", "+10000000000"],
    ),
    ("device_id", "trim", [], 40, None, False, []),
    ("anonymous_id", "trim", [], 10, None, False, []),
]


def seed(apps, schema_editor):
    IdentityType = apps.get_model("profiles", "IdentityType")
    for name, normaliser, keys, priority, max_per, verified, blocked in TYPES:
        IdentityType.objects.get_or_create(
            name=name,
            defaults={
                "normaliser": normaliser,
                "trait_keys": keys,
                "priority": priority,
                "max_per_profile": max_per,
                "verified": verified,
                "blocked_values": JUNK + blocked,
            },
        )
    apps.get_model("profiles", "SurvivorshipRule").objects.get_or_create(
        trait="*", defaults={"rule": "most_recent", "keep_non_empty": True}
    )
    apps.get_model("profiles", "ProcessorState").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("profiles", "0004_identity")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
