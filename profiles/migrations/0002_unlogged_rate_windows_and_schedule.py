from django.db import migrations
from django.utils import timezone

PRUNE = "profiles.tasks.prune_rate_windows"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name="prune rate windows",
        defaults={
            "func": PRUNE,
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=PRUNE).delete()


class Migration(migrations.Migration):
    dependencies = [("profiles", "0001_initial"), ("django_q", "0018_task_success_index")]

    operations = [
        # Per-second counters are worthless after a crash: skip the write-ahead log for them.
        migrations.RunSQL(
            "ALTER TABLE profiles_ratewindow SET UNLOGGED",
            "ALTER TABLE profiles_ratewindow SET LOGGED",
        ),
        migrations.RunPython(create_schedule, remove_schedule),
    ]
