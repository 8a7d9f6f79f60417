from django.db import migrations
from django.utils import timezone

HEARTBEAT = "cdpapp.tasks.worker_heartbeat"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name="worker heartbeat",
        defaults={
            "func": HEARTBEAT,
            "schedule_type": "I",  # Schedule.MINUTES
            "minutes": 1,
            "repeats": -1,
            "next_run": timezone.now(),
        },
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(func=HEARTBEAT).delete()


class Migration(migrations.Migration):
    dependencies = [("cdpapp", "0001_initial"), ("django_q", "0018_task_success_index")]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
