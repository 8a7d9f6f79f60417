from django.db import migrations
from django.utils import timezone

TASK = "segments.tasks.refresh_due_segments"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name="refresh due segments",
        defaults={
            "func": TASK,
            "schedule_type": "I",
            "minutes": 5,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("segments", "0001_initial"), ("django_q", "0018_task_success_index")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
