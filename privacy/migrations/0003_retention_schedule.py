from django.db import migrations
from django.utils import timezone

TASK = "privacy.tasks.run_retention"


def create_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.update_or_create(
        name="retention",
        defaults={"func": TASK, "schedule_type": "D", "repeats": -1, "next_run": timezone.now()},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=TASK).delete()


class Migration(migrations.Migration):
    dependencies = [("privacy", "0002_default_purposes"), ("django_q", "0018_task_success_index")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
