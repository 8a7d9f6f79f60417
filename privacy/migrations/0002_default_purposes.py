from django.db import migrations

PURPOSES = [
    (
        "email_marketing",
        "Email marketing",
        "News, offers and reminders sent to your email address.",
        {"EU": "opt_in", "GB": "opt_in", "US": "opt_out", "*": "opt_in"},
    ),
    ("sms", "SMS marketing", "Offers and reminders sent by text message.", {"*": "opt_in"}),
    (
        "push",
        "Push notifications",
        "Notifications from our mobile app.",
        {"EU": "opt_in", "GB": "opt_in", "US": "opt_out", "*": "opt_in"},
    ),
    (
        "advertising",
        "Advertising",
        "Showing you our ads on other sites and apps, using your "
        "email address or phone number in a hashed form.",
        {"EU": "opt_in", "GB": "opt_in", "US": "opt_out", "*": "opt_in"},
    ),
    (
        "personalisation",
        "Personalisation",
        "Tailoring our site and app to what you browse and buy.",
        {"EU": "opt_in", "GB": "opt_in", "US": "opt_out", "*": "opt_out"},
    ),
    (
        "analytics",
        "Analytics",
        "Measuring how our site and app are used, to improve them.",
        {"EU": "opt_in", "GB": "opt_in", "*": "opt_out"},
    ),
]


def seed(apps, schema_editor):
    Purpose = apps.get_model("privacy", "Purpose")
    PurposeVersion = apps.get_model("privacy", "PurposeVersion")
    for slug, name, description, defaults in PURPOSES:
        purpose, created = Purpose.objects.get_or_create(
            slug=slug, defaults={"name": name, "description": description, "defaults": defaults}
        )
        if created:
            PurposeVersion.objects.create(purpose=purpose, version=1, description=description)


class Migration(migrations.Migration):
    dependencies = [("privacy", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
