from django.db import migrations
from django.utils import timezone

TASK = "profiles.tasks.process_events"


def create_schedule(apps, schema_editor):
    # Collection queues processing at once; this schedule is the safety net.
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name="process events",
        defaults={
            "func": TASK,
            "schedule_type": "I",
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("profiles", "0005_default_identity_types"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
