from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    # Built without locking out collection on a large events table.
    atomic = False

    dependencies = [
        ("profiles", "0008_matching"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="event",
            index=models.Index(
                condition=models.Q(("processed_at__isnull", False)),
                fields=["processed_at"],
                name="event_processed",
            ),
        ),
    ]
